import { api, isLive, runsTableParams, type FieldList, type RunRecord, type RunsPage, type RunsTableQuery } from './api';
import { clear, h } from './dom';
import { formatNumber } from './format';
import { liveLoader } from './live';
import { settingAt, settingText } from './settings';
import { errorBox, liveNote, statusBadge, sweepCommand, type View } from './view';

interface Column {
  /** The field the column sorts by (`/api/runs?sort=`). */
  field: string;
  title: string;
  numeric?: boolean;
  /** Long free text (names, labels): may wrap. */
  wrap?: boolean;
  cell(run: RunRecord): Node | string;
}

const metricTitles: Record<string, string> = {
  d_loss_real: 'D loss real',
  d_loss_fake: 'D loss fake',
  g_loss: 'G loss',
  d_acc_real: 'D acc real',
  d_acc_fake: 'D acc fake',
};
/** Logged every epoch but not results: shown on the run page, not as columns. */
const unlistedMetrics = new Set(['img_per_s', 'epoch_seconds']);
const maxSettingColumns = 6;
const pageSizes = [25, 50, 100, 200];
const filterDelayMs = 250;

const runColumns: Column[] = [
  { field: 'id', title: '#', numeric: true, cell: (run) => String(run.id) },
  { field: 'experiment', title: 'Experiment', wrap: true, cell: (run) => run.experimentName },
  {
    field: 'label',
    title: 'Variant',
    wrap: true,
    cell: (run) =>
      h(
        'span',
        {},
        h('a', { href: `#/runs/${run.id}`, class: 'run-link' }, run.label || run.variantId),
        h('span', { class: 'variant-id' }, run.variantId),
      ),
  },
  { field: 'status', title: 'Status', cell: (run) => statusBadge(run.status) },
  { field: 'backend', title: 'Backend', cell: (run) => run.backend ?? '—' },
  { field: 'epochs', title: 'Epochs', numeric: true, cell: (run) => String(run.epochsDone) },
];

const settingColumn = (path: string): Column => ({
  field: `settings.${path}`,
  title: path,
  cell: (run) => settingText(settingAt(run.settings, path)),
});

const metricColumn = (name: string): Column => ({
  field: `metrics.${name}`,
  title: metricTitles[name] ?? name,
  numeric: true,
  cell: (run) => formatNumber(run.lastMetrics[name]),
});

/** Settings in which the runs differ (the sweep's axes) first: they are what a table of runs is read by. */
function varyingSettings(fields: FieldList): string[] {
  return fields.settings.filter((s) => s.values > 1 || s.runs < fields.runs).map((s) => s.path);
}

function columnsFor(fields: FieldList): Column[] {
  const metrics = [
    ...Object.keys(metricTitles),
    ...fields.metrics.filter((name) => !(name in metricTitles) && !unlistedMetrics.has(name)),
  ];
  return [...runColumns, ...varyingSettings(fields).slice(0, maxSettingColumns).map(settingColumn), ...metrics.map(metricColumn)];
}

/** Every field, for the sort and group menus: a setting that is no column can still order the table. */
function fieldOptions(fields: FieldList): { label: string; options: [string, string][] }[] {
  const varying = new Set(varyingSettings(fields));
  const settings = [...varying, ...fields.settings.map((s) => s.path).filter((p) => !varying.has(p))];
  return [
    { label: 'Run', options: runColumns.map((c) => [c.field, c.title === '#' ? 'run id' : c.title.toLowerCase()]) },
    { label: 'Settings', options: settings.map((path) => [`settings.${path}`, path]) },
    { label: 'Final metrics', options: fields.metrics.map((name) => [`metrics.${name}`, name]) },
  ];
}

function readQuery(): RunsTableQuery {
  const params = new URLSearchParams(location.hash.split('?')[1] ?? '');
  const whole = (name: string, fallback: number) => (/^\d+$/.test(params.get(name) ?? '') ? Number(params.get(name)) : fallback);
  return {
    q: params.get('q') ?? '',
    sort: params.get('sort') ?? '',
    order: params.get('order') === 'desc' ? 'desc' : 'asc',
    group: params.get('group') ?? '',
    offset: whole('offset', 0),
    limit: pageSizes.includes(whole('limit', 50)) ? whole('limit', 50) : 50,
  };
}

/** Kept between visits, so a selection survives opening a run and coming back. */
const selected = new Set<number>();

/** The runs table: the server filters, sorts, groups and pages; the table's state lives in the URL. */
export function mountRunsView(root: HTMLElement): View {
  const query = readQuery();
  let fields: FieldList | null = null;
  let page: RunsPage | null = null;

  const filterInput = h('input', {
    type: 'search',
    placeholder: 'Filter: words, status=done, gender=male, dropout<0.5, g_loss<1.2',
    'aria-label': 'Filter runs',
    class: 'filter',
    value: query.q,
  });
  const sortSelect = h('select', { 'aria-label': 'Sort by' });
  const orderButton = h('button', { type: 'button', class: 'order', 'aria-label': 'Sort order' });
  const groupSelect = h('select', { 'aria-label': 'Group by' });
  const compareButton = h('button', { type: 'button', class: 'primary compare-button' }, 'Compare');
  const clearButton = h('button', { type: 'button', class: 'link-button' }, 'Clear selection');
  const live = h('span', {});
  const headerRow = h('tr');
  const body = h('tbody');
  const message = h('div');
  const pager = h('div', { class: 'pager' });
  const help = h(
    'details',
    { class: 'filter-help' },
    h('summary', {}, 'Filter syntax'),
    h(
      'p',
      {},
      'Words match experiment, variant, status, backend and device. ',
      'A condition is field, operator, value with no spaces: ',
      ...['status=done', 'gender=male', 'model.dropout!=0.25', 'g_loss<1.2', 'label~"lr 2"', 'dataset.where={}'].flatMap((e) => [h('code', {}, e), ' ']),
      '. Operators: = != < <= > >= and ~ (contains). A field is a run column, a setting path (or its last part) or a metric (its final value).',
    ),
  );

  root.append(
    h('div', { class: 'page-head' }, h('h1', {}, 'Runs', live)),
    h(
      'div',
      { class: 'toolbar' },
      filterInput,
      h('label', { class: 'inline' }, 'Sort ', sortSelect, orderButton),
      h('label', { class: 'inline' }, 'Group ', groupSelect),
      h('span', { class: 'spacer' }),
      clearButton,
      compareButton,
    ),
    help,
    message,
    h('div', { class: 'table-wrap' }, h('table', { class: 'runs-table' }, h('thead', {}, headerRow), body)),
    pager,
  );

  let filterTimer: ReturnType<typeof setTimeout> | undefined;
  filterInput.addEventListener('input', () => {
    clearTimeout(filterTimer);
    filterTimer = setTimeout(() => change({ q: filterInput.value.trim(), offset: 0 }), filterDelayMs);
  });
  sortSelect.addEventListener('change', () => change({ sort: sortSelect.value, order: 'asc', offset: 0 }));
  orderButton.addEventListener('click', () => change({ order: query.order === 'asc' ? 'desc' : 'asc', offset: 0 }));
  groupSelect.addEventListener('change', () => change({ group: groupSelect.value, offset: 0 }));
  compareButton.addEventListener('click', () => {
    location.hash = `#/compare?runs=${[...selected].sort((a, b) => a - b).join(',')}`;
  });
  clearButton.addEventListener('click', () => {
    selected.clear();
    render();
  });

  function change(next: Partial<RunsTableQuery>) {
    Object.assign(query, next);
    const params = runsTableParams(query);
    if (query.limit === 50) params.delete('limit');
    // replaceState: no hashchange, so the view (and the focused filter box) stays.
    history.replaceState(null, '', `#/runs${params.size ? `?${params}` : ''}`);
    loader.refresh();
  }

  function showError(error: unknown) {
    message.replaceChildren(errorBox(error));
  }

  function renderMenus(fields: FieldList) {
    const fill = (select: HTMLSelectElement, none: string, value: string) => {
      select.replaceChildren(
        h('option', { value: '' }, none),
        ...fieldOptions(fields).map(({ label, options }) =>
          h('optgroup', { label }, ...options.map(([field, title]) => h('option', { value: field }, title))),
        ),
      );
      select.value = value;
    };
    fill(sortSelect, 'experiment, id', query.sort);
    fill(groupSelect, 'no grouping', query.group);
  }

  function renderHeader(columns: Column[]) {
    const pageIds = page?.runs.map((run) => run.id) ?? [];
    const allSelected = pageIds.length > 0 && pageIds.every((id) => selected.has(id));
    const selectPage = h('input', { type: 'checkbox', 'aria-label': 'Select the runs on this page', checked: allSelected });
    selectPage.addEventListener('change', () => {
      for (const id of pageIds) {
        if (selectPage.checked) selected.add(id);
        else selected.delete(id);
      }
      render();
    });
    headerRow.replaceChildren(h('th', { class: 'select' }, selectPage));
    for (const column of columns) {
      const sorted = query.sort === column.field;
      const button = h(
        'button',
        { type: 'button', class: 'sort', 'data-sort': column.field, title: `Sort by ${column.title}` },
        column.title,
        h('span', { class: 'sort-mark', 'aria-hidden': 'true' }, sorted ? (query.order === 'desc' ? ' ▼' : ' ▲') : ''),
      );
      button.addEventListener('click', () => change({ sort: column.field, order: sorted && query.order === 'asc' ? 'desc' : 'asc', offset: 0 }));
      const ariaSort = sorted ? (query.order === 'desc' ? 'descending' : 'ascending') : undefined;
      headerRow.append(h('th', { class: cellClass(column), 'aria-sort': ariaSort }, button));
    }
  }

  function groupRow(index: number, span: number): HTMLElement | null {
    const group = page?.groups?.find((g) => index >= g.start && index < g.start + g.count);
    if (!group || (index !== group.start && index !== page!.offset)) return null;
    const title = groupSelect.selectedOptions[0]?.textContent ?? query.group;
    const value = group.value === null ? '(none)' : typeof group.value === 'number' ? formatNumber(group.value, 4) : group.value;
    return h(
      'tr',
      { class: 'group-row' },
      h(
        'td',
        { colspan: span },
        h('strong', {}, `${title} = ${value}`),
        h('span', { class: 'muted' }, ` · ${group.count} run${group.count === 1 ? '' : 's'}${index > group.start ? ' (continued)' : ''}`),
      ),
    );
  }

  function render() {
    if (!fields || !page) return;
    const columns = columnsFor(fields);
    renderHeader(columns);
    clear(body);
    page.runs.forEach((run, i) => {
      const group = groupRow(page!.offset + i, columns.length + 1);
      if (group) body.append(group);
      const checkbox = h('input', { type: 'checkbox', 'aria-label': `Select run ${run.id}`, checked: selected.has(run.id), 'data-run': run.id });
      checkbox.addEventListener('change', () => {
        if (checkbox.checked) selected.add(run.id);
        else selected.delete(run.id);
        render();
      });
      body.append(
        h(
          'tr',
          { 'data-run': run.id },
          h('td', { class: 'select' }, checkbox),
          ...columns.map((c) => h('td', { class: cellClass(c) }, c.cell(run))),
        ),
      );
    });
    if (!page.runs.length && fields.runs) {
      body.append(h('tr', {}, h('td', { colspan: columns.length + 1, class: 'empty' }, 'No run matches the filter.')));
    }
    orderButton.textContent = query.order === 'desc' ? '▼' : '▲';
    orderButton.disabled = !query.sort;
    compareButton.disabled = selected.size < 2;
    compareButton.textContent = selected.size ? `Compare (${selected.size})` : 'Compare';
    clearButton.hidden = selected.size === 0;
    renderPager(page);
  }

  function renderPager({ total, offset, limit, runs }: RunsPage) {
    const previous = h('button', { type: 'button', disabled: offset === 0 }, '‹ Previous');
    const next = h('button', { type: 'button', disabled: offset + limit >= total }, 'Next ›');
    previous.addEventListener('click', () => change({ offset: Math.max(0, offset - limit) }));
    next.addEventListener('click', () => change({ offset: offset + limit }));
    const size = h('select', { 'aria-label': 'Runs per page' }, ...pageSizes.map((n) => h('option', { value: n }, `${n} per page`)));
    size.value = String(limit);
    size.addEventListener('change', () => change({ limit: Number(size.value), offset: 0 }));
    const shown = runs.length ? `${offset + 1}–${offset + runs.length} of ${total.toLocaleString('en')} runs` : `0 of ${total.toLocaleString('en')} runs`;
    pager.replaceChildren(previous, h('span', { class: 'muted count' }, shown), next, size);
  }

  async function load(): Promise<void> {
    const [nextFields, nextPage] = await Promise.all([api.fields(), api.runs(query)]);
    if (disposed) return;
    const menusChanged = JSON.stringify(nextFields) !== JSON.stringify(fields);
    fields = nextFields;
    page = nextPage;
    if (menusChanged) renderMenus(fields);
    clear(message);
    if (!fields.runs) message.append(h('p', { class: 'empty' }, 'No runs yet — run ', h('code', {}, sweepCommand)));
    render();
    live.replaceChildren(page.runs.some(isLive) ? liveNote() : '');
  }

  let disposed = false;
  const loader = liveLoader(load, showError);
  loader.refresh();

  return {
    dispose() {
      disposed = true;
      clearTimeout(filterTimer);
      loader.stop();
    },
  };
}

function cellClass(column: Column): string | undefined {
  return column.numeric ? 'num' : column.wrap ? 'wrap' : undefined;
}
