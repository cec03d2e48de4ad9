import { api, isLive, type RunRecord } from './api';
import { clear, h } from './dom';
import { formatNumber } from './format';
import { pollWhile } from './poll';
import { errorBox, liveNote, statusBadge, sweepCommand, type View } from './view';

interface Column {
  key: string;
  title: string;
  numeric?: boolean;
  /** Long free text (names, labels): may wrap. */
  wrap?: boolean;
  value(run: RunRecord): string | number | null;
  cell?(run: RunRecord): Node | string;
}

const metricColumn = (name: string, title: string): Column => ({
  key: name,
  title,
  numeric: true,
  value: (run) => run.lastMetrics[name] ?? null,
  cell: (run) => formatNumber(run.lastMetrics[name]),
});

const columns: Column[] = [
  { key: 'id', title: '#', numeric: true, value: (run) => run.id },
  { key: 'experiment', title: 'Experiment', wrap: true, value: (run) => run.experimentName },
  {
    key: 'label',
    title: 'Variant',
    wrap: true,
    value: (run) => run.label || run.variantId,
    cell: (run) =>
      h(
        'span',
        {},
        h('a', { href: `#/runs/${run.id}`, class: 'run-link' }, run.label || run.variantId),
        h('span', { class: 'variant-id' }, run.variantId),
      ),
  },
  { key: 'status', title: 'Status', value: (run) => run.status, cell: (run) => statusBadge(run.status) },
  { key: 'backend', title: 'Backend', value: (run) => run.backend ?? '', cell: (run) => run.backend ?? '—' },
  { key: 'epochs', title: 'Epochs', numeric: true, value: (run) => run.epochsDone },
  metricColumn('d_loss_real', 'D loss real'),
  metricColumn('d_loss_fake', 'D loss fake'),
  metricColumn('g_loss', 'G loss'),
  metricColumn('d_acc_real', 'D acc real'),
  metricColumn('d_acc_fake', 'D acc fake'),
];

/** Kept between visits, so going back from a run shows the table as it was left. */
const state = { filter: '', sortKey: 'id', descending: false, selected: new Set<number>() };

function cellClass(column: Column): string | undefined {
  return column.numeric ? 'num' : column.wrap ? 'wrap' : undefined;
}

function matches(run: RunRecord, words: string[]): boolean {
  const text = [run.id, run.experimentName, run.label, run.variantId, run.status, run.backend, run.device]
    .join(' ')
    .toLowerCase();
  return words.every((word) => text.includes(word));
}

function compare(a: string | number | null, b: string | number | null): number {
  if (a === null || a === '') return b === null || b === '' ? 0 : 1; // blanks last either way
  if (b === null || b === '') return -1;
  return typeof a === 'number' && typeof b === 'number' ? a - b : String(a).localeCompare(String(b), undefined, { numeric: true });
}

export function mountRunsView(root: HTMLElement): View {
  let runs: RunRecord[] = [];
  const filterInput = h('input', {
    type: 'search',
    placeholder: 'Filter runs: experiment, variant, status…',
    'aria-label': 'Filter runs',
    class: 'filter',
    value: state.filter,
  });
  const countText = h('span', { class: 'muted count' });
  const compareButton = h('button', { type: 'button', class: 'primary compare-button' }, 'Compare');
  const live = h('span', {});
  const headerRow = h('tr');
  const body = h('tbody');
  const table = h('table', { class: 'runs-table' }, h('thead', {}, headerRow), body);
  const message = h('div');

  filterInput.addEventListener('input', () => {
    state.filter = filterInput.value;
    renderRows();
  });
  compareButton.addEventListener('click', () => {
    location.hash = `#/compare?runs=${[...state.selected].sort((a, b) => a - b).join(',')}`;
  });

  root.append(
    h('div', { class: 'page-head' }, h('h1', {}, 'Runs'), live),
    h('div', { class: 'toolbar' }, filterInput, countText, compareButton),
    message,
    h('div', { class: 'table-wrap' }, table),
  );

  function renderHeader() {
    clear(headerRow);
    headerRow.append(h('th', { class: 'select' }, h('span', { class: 'visually-hidden' }, 'Select')));
    for (const column of columns) {
      const sorted = state.sortKey === column.key;
      const button = h(
        'button',
        { type: 'button', class: 'sort', 'data-sort': column.key },
        column.title,
        h('span', { class: 'sort-mark', 'aria-hidden': 'true' }, sorted ? (state.descending ? ' ▼' : ' ▲') : ''),
      );
      button.addEventListener('click', () => {
        state.descending = sorted ? !state.descending : false;
        state.sortKey = column.key;
        renderHeader();
        renderRows();
      });
      const ariaSort = sorted ? (state.descending ? 'descending' : 'ascending') : undefined;
      headerRow.append(h('th', { class: cellClass(column), 'aria-sort': ariaSort }, button));
    }
  }

  function renderRows() {
    const words = state.filter.toLowerCase().split(/\s+/).filter(Boolean);
    const column = columns.find((c) => c.key === state.sortKey) ?? columns[0];
    const shown = runs
      .filter((run) => matches(run, words))
      .sort((a, b) => compare(column.value(a), column.value(b)) * (state.descending ? -1 : 1));
    clear(body);
    for (const run of shown) {
      const checkbox = h('input', {
        type: 'checkbox',
        'aria-label': `Select run ${run.id}`,
        checked: state.selected.has(run.id),
        'data-run': run.id,
      });
      checkbox.addEventListener('change', () => {
        if (checkbox.checked) state.selected.add(run.id);
        else state.selected.delete(run.id);
        updateCompareButton();
      });
      body.append(
        h(
          'tr',
          { 'data-run': run.id },
          h('td', { class: 'select' }, checkbox),
          ...columns.map((c) => h('td', { class: cellClass(c) }, c.cell ? c.cell(run) : String(c.value(run) ?? '—'))),
        ),
      );
    }
    if (runs.length && !shown.length) {
      body.append(h('tr', {}, h('td', { colspan: columns.length + 1, class: 'empty' }, 'No run matches the filter.')));
    }
    countText.textContent = `${shown.length} of ${runs.length} runs`;
    updateCompareButton();
  }

  function updateCompareButton() {
    const known = new Set(runs.map((run) => run.id));
    for (const id of state.selected) if (!known.has(id)) state.selected.delete(id);
    compareButton.disabled = state.selected.size < 2;
    compareButton.textContent = state.selected.size ? `Compare (${state.selected.size})` : 'Compare';
  }

  async function load(): Promise<boolean> {
    runs = await api.runs();
    clear(message);
    if (!runs.length) {
      message.append(h('p', { class: 'empty' }, 'No runs yet — run ', h('code', {}, sweepCommand)));
    }
    renderRows();
    const anyLive = runs.some(isLive);
    live.replaceChildren(anyLive ? liveNote() : '');
    return anyLive;
  }

  renderHeader();
  let stopPolling = () => {};
  let disposed = false;
  load().then(
    (anyLive) => {
      if (anyLive && !disposed) stopPolling = pollWhile(load);
    },
    (error) => message.replaceChildren(errorBox(error)),
  );

  return {
    dispose() {
      disposed = true;
      stopPolling();
    },
  };
}
