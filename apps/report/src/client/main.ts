import './styles.css';
import { clear } from './dom';
import { mountCompareView } from './compare-view';
import { mountRunView } from './run-view';
import { mountRunsView } from './runs-view';
import type { View } from './view';

const root = document.getElementById('app')!;
let current: View | null = null;

/** Hash routes: #/runs, #/runs/:id, #/compare?runs=1,2 */
function route(): void {
  current?.dispose();
  clear(root);
  document.title = 'facegan report';
  const [path, query = ''] = location.hash.replace(/^#/, '').split('?');
  const runMatch = /^\/runs\/(\d+)$/.exec(path);
  if (runMatch) {
    current = mountRunView(root, Number(runMatch[1]));
  } else if (path === '/compare') {
    const ids = (new URLSearchParams(query).get('runs') ?? '')
      .split(',')
      .filter((id) => /^\d+$/.test(id))
      .map(Number);
    current = mountCompareView(root, [...new Set(ids)]);
  } else {
    current = mountRunsView(root);
  }
  window.scrollTo(0, 0);
}

window.addEventListener('hashchange', route);
route();
