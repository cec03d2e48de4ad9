import { api, isLive, type ExperimentRecord, type GridInfo, type MetricRow, type RunRecord } from './api';
import { LineChart, palette, type ChartSpec } from './charts';
import { clear, h } from './dom';
import { EpochPlayer } from './epoch-player';
import { formatDuration, formatNumber, formatTime } from './format';
import { pollWhile } from './poll';
import { epochColumns, hasStepRows, stepColumns } from './series';
import { errorBox, liveNote, statusBadge, type View } from './view';

/** Enough for a chart's width in pixels; a long run's step rows are thinned by the server to this. */
const stepPointsPerChart = 1500;
const lossNames = ['d_loss_real', 'd_loss_fake', 'g_loss'];
const accuracyNames = ['d_acc_real', 'd_acc_fake'];
const lossSeries = [
  { label: 'D loss real', color: palette[0] },
  { label: 'D loss fake', color: palette[1] },
  { label: 'G loss', color: palette[2] },
];
const accuracySeries = [
  { label: 'D acc real', color: palette[0] },
  { label: 'D acc fake', color: palette[1] },
];

interface ChartDef {
  spec: ChartSpec;
  columns(rows: MetricRow[]): ReturnType<typeof epochColumns>;
  shown(rows: MetricRow[]): boolean;
}

const chartDefs: ChartDef[] = [
  {
    spec: { title: 'Losses per epoch', xLabel: 'epoch', series: lossSeries },
    columns: (rows) => epochColumns(rows, lossNames),
    shown: () => true,
  },
  {
    spec: { title: 'D accuracy per epoch', xLabel: 'epoch', series: accuracySeries },
    columns: (rows) => epochColumns(rows, accuracyNames),
    shown: () => true,
  },
  {
    spec: { title: 'Losses per step', xLabel: 'step', series: lossSeries },
    columns: (rows) => stepColumns(rows, lossNames),
    shown: hasStepRows,
  },
  {
    spec: { title: 'D accuracy per step', xLabel: 'step', series: accuracySeries },
    columns: (rows) => stepColumns(rows, accuracyNames),
    shown: (rows) => stepColumns(rows, accuracyNames).x.length > 0,
  },
  {
    spec: { title: 'Throughput (images/s) per epoch', xLabel: 'epoch', series: [{ label: 'img/s', color: palette[3] }] },
    columns: (rows) => epochColumns(rows, ['img_per_s']),
    shown: (rows) => rows.some((row) => row.name === 'img_per_s'),
  },
];

function definitionList(entries: [string, Node | string][]): HTMLElement {
  return h('dl', { class: 'facts' }, ...entries.map(([term, value]) => h('div', {}, h('dt', {}, term), h('dd', {}, value))));
}

function datasetSection(summary: Record<string, unknown>): HTMLElement {
  const { counts, ...rest } = summary;
  const section = h('section', { class: 'card' }, h('h2', {}, 'Dataset'));
  section.append(
    definitionList(
      Object.entries(rest).map(([key, value]) => [key, typeof value === 'object' ? JSON.stringify(value) : String(value)]),
    ),
  );
  if (counts && typeof counts === 'object') {
    const table = h('table', { class: 'counts' }, h('thead', {}, h('tr', {}, h('th', {}, 'label'), h('th', {}, 'counts'))));
    const body = h('tbody');
    for (const [label, values] of Object.entries(counts as Record<string, Record<string, number>>)) {
      const text = Object.entries(values)
        .map(([value, count]) => `${value}: ${count}`)
        .join(', ');
      body.append(h('tr', {}, h('td', {}, label), h('td', {}, text)));
    }
    table.append(body);
    section.append(table);
  }
  return section;
}

export function mountRunView(root: HTMLElement, runId: number): View {
  const charts = new Map<ChartDef, LineChart>();
  const head = h('div', { class: 'page-head' });
  const facts = h('section', { class: 'card' });
  const chartArea = h('div', { class: 'charts' });
  const gridImage = h('img', { class: 'sample-grid', alt: 'sample grid' });
  const gridCaption = h('figcaption', { class: 'muted' });
  const grids = new Map<number, GridInfo>();
  const player = new EpochPlayer((epoch) => {
    const grid = grids.get(epoch);
    gridImage.hidden = !grid;
    if (grid) {
      gridImage.src = grid.url;
      gridImage.dataset.epoch = String(epoch);
      gridImage.alt = `sample grid, epoch ${epoch}`;
    }
    gridCaption.textContent = grid ? `epoch ${epoch} · ${grid.width}×${grid.height}px` : `no grid for epoch ${epoch}`;
  });
  const samples = h(
    'section',
    { class: 'card samples' },
    h('h2', {}, 'Samples'),
    player.element,
    h('figure', { class: 'grid-figure' }, gridImage, gridCaption),
  );
  const details = h('div', { class: 'details' });
  const status = h('div');
  root.append(status, head, facts, h('section', { class: 'card' }, h('h2', {}, 'Training curves'), chartArea), samples, details);

  function renderRun(run: RunRecord, experiment: ExperimentRecord | undefined) {
    document.title = `#${run.id} ${run.label || run.variantId} · facegan report`;
    head.replaceChildren(
      h(
        'div',
        {},
        h('nav', { class: 'crumbs' }, h('a', { href: '#/runs' }, 'Runs'), ' / ', run.experimentName, ' / ', `run #${run.id}`),
        h('h1', {}, run.label || run.variantId, ' ', statusBadge(run.status), isLive(run) ? liveNote() : ''),
      ),
    );
    const metric = (name: string) => formatNumber(run.lastMetrics[name]);
    clear(facts);
    if (run.error) facts.append(h('div', { class: 'error-box' }, run.error));
    facts.append(
      definitionList([
        ['Experiment', run.experimentName],
        ['Description', experiment?.description || '—'],
        ['Variant id', run.variantId],
        ['Backend', run.backend ?? '—'],
        ['Device', run.device ?? '—'],
        ['Epochs done', String(run.epochsDone)],
        ['Created', formatTime(run.createdAt)],
        ['Started', formatTime(run.startedAt)],
        ['Finished', formatTime(run.finishedAt)],
        ['Duration', formatDuration(run.startedAt, run.finishedAt)],
        ['Last epoch', `${metric('epoch_seconds')} s`],
        ['Throughput', `${metric('img_per_s')} img/s`],
      ]),
    );
    clear(details);
    if (run.datasetSummary) details.append(datasetSection(run.datasetSummary));
    details.append(h('section', { class: 'card' }, h('h2', {}, 'Settings'), h('pre', { class: 'json' }, JSON.stringify(run.settings, null, 2))));
  }

  function renderCharts(rows: MetricRow[]) {
    for (const def of chartDefs) {
      const chart = charts.get(def);
      if (chart) chart.update(def.columns(rows));
      else if (def.shown(rows)) charts.set(def, new LineChart(chartArea, def.spec, def.columns(rows)));
    }
  }

  function renderGrids(list: GridInfo[]) {
    grids.clear();
    for (const grid of list) grids.set(grid.epoch, grid);
    player.setEpochs([...grids.keys()]);
    if (!list.length) gridCaption.textContent = 'No sample grids yet.';
  }

  let experiment: ExperimentRecord | undefined;
  async function load(): Promise<boolean> {
    const [run, rows, gridList] = await Promise.all([api.run(runId), api.metrics(runId, stepPointsPerChart), api.grids(runId)]);
    experiment ??= (await api.experiments()).find((e) => e.id === run.experimentId);
    if (disposed) return false;
    renderRun(run, experiment);
    renderCharts(rows);
    renderGrids(gridList);
    return isLive(run);
  }

  let disposed = false;
  let stopPolling = () => {};
  load().then(
    (live) => {
      if (live && !disposed) stopPolling = pollWhile(load);
    },
    (error) => status.replaceChildren(errorBox(error)),
  );

  return {
    dispose() {
      disposed = true;
      stopPolling();
      player.destroy();
      for (const chart of charts.values()) chart.destroy();
    },
  };
}
