import { ApiError } from './api';
import { h } from './dom';

/** What a route renders into the page; `dispose` stops its polling, timers and charts. */
export interface View {
  dispose(): void;
}

export const sweepCommand = 'npx nx run runner:sweep --spec experiments/quickstart.yaml';

export function errorBox(error: unknown): HTMLElement {
  const message = error instanceof ApiError ? `${error.status}: ${error.message}` : String(error);
  return h('div', { class: 'error-box', role: 'alert' }, message);
}

export function statusBadge(status: string): HTMLElement {
  return h('span', { class: `badge status-${status}` }, status);
}

export function liveNote(): HTMLElement {
  return h('span', { class: 'live-note', title: 'The page refreshes by itself while a run is running' }, 'live');
}
