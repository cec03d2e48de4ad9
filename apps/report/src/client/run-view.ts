import { api, exportUrl, isLive, type ExperimentRecord, type GridInfo, type MetricRow, type RunRecord } from './api';
import { LineChart, curvesCard, palette, withSmoothing, type ChartSpec } from './charts';
import { clear, h } from './dom';
import { EpochPlayer } from './epoch-player';
import { formatDuration, formatNumber, formatTime } from './format';
import { liveLoader } from './live';
import { epochColumns, epochStep, hasStepRows, stepColumns, type Columns } from './series';
import { flattenSettings } from './settings';
import { smoothingWeight } from './smoothing';
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
const maxSkippedListed = 20;

interface ChartDef {
  spec: ChartSpec;
  columns(rows: MetricRow[]): Columns;
  shown(rows: MetricRow[]): boolean;
  /** Throughput is a measurement, not a noisy training signal: never smoothed. */
  raw?: boolean;
}

/**
 * A per-epoch chart of measurements (judge metrics, throughput), shown once the first metric exists. Never
 * smoothed: these are measurements, not noisy training signals.
 */
function epochMeasurement(title: string, metrics: [name: string, label: string][]): ChartDef {
  const names = metrics.map(([name]) => name);
  return {
    spec: { title, xLabel: 'epoch', series: metrics.map(([, label], i) => ({ label, color: palette[(i + 3) % palette.length] })) },
    columns: (rows) => epochColumns(rows, names),
    shown: (rows) => rows.some((row) => row.name === names[0]),
    raw: true,
  };
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
  epochMeasurement('Judged: face rate and shares among faces', [
    ['face_rate', 'face rate'],
    ['share_male', 'men'],
    ['share_glasses', 'glasses'],
    ['share_facial_hair', 'facial hair'],
  ]),
  epochMeasurement('Judged: sliced Wasserstein distance (×1e3)', [['swd_mean', 'SWD mean']]),
  epochMeasurement('Judged: diversity (mean MS-SSIM of pairs)', [
    ['msssim_fake', 'generated'],
    ['msssim_real', 'real'],
  ]),
  epochMeasurement('Throughput (images/s) per epoch', [['img_per_s', 'img/s']]),
];

function definitionList(entries: [string, Node | string][]): HTMLElement {
  return h('dl', { class: 'facts' }, ...entries.map(([term, value]) => h('div', {}, h('dt', {}, term), h('dd', {}, value))));
}

function datasetSection(summary: Record<string, unknown>): HTMLElement {
  const { counts, skipped, files, ...rest } = summary;
  const section = h('section', { class: 'card dataset' }, h('h2', {}, 'Dataset'));
  section.append(
    definitionList(Object.entries(rest).map(([key, value]) => [key, typeof value === 'object' ? JSON.stringify(value) : String(value)])),
  );
  if (Array.isArray(files)) {
    // One id per training image: listed on demand, it would bury the rest of the card.
    section.append(h('details', {}, h('summary', {}, `${files.length} files, in training order`), h('pre', { class: 'files' }, files.join('\n'))));
  }
  if (counts && typeof counts === 'object') {
    const body = h('tbody');
    for (const [label, values] of Object.entries(counts as Record<string, Record<string, number>>)) {
      const total = Object.values(values).reduce((sum, n) => sum + n, 0) || 1;
      body.append(
        h(
          'tr',
          {},
          h('th', {}, label),
          h(
            'td',
            {},
            ...Object.entries(values).map(([value, count]) =>
              h(
                'span',
                { class: 'count-chip', title: `${Math.round((count / total) * 100)}%` },
                h('span', { class: 'count-bar', style: `width:${(count / total) * 100}%` }),
                `${value} `,
                h('strong', {}, String(count)),
              ),
            ),
          ),
        ),
      );
    }
    section.append(h('h3', {}, 'Images per label'), h('table', { class: 'counts' }, body));
  }
  if (skipped !== undefined) section.append(skippedList(skipped));
  return section;
}

/** Files the dataset loader skipped: a count, or a list of names or {file, reason} entries. */
function skippedList(skipped: unknown): HTMLElement {
  const list = Array.isArray(skipped) ? skipped : [];
  const count = Array.isArray(skipped) ? skipped.length : Number(skipped) || 0;
  const section = h('div', { class: 'skipped' }, h('h3', {}, `Skipped files: ${count}`));
  if (list.length) {
    section.append(
      h('ul', {}, ...list.slice(0, maxSkippedListed).map((entry) => h('li', {}, typeof entry === 'string' ? entry : JSON.stringify(entry)))),
    );
    if (list.length > maxSkippedListed) section.append(h('p', { class: 'muted' }, `and ${list.length - maxSkippedListed} more`));
  }
  return section;
}

function settingsSection(settings: Record<string, unknown>): HTMLElement {
  const rows = [...flattenSettings(settings)].map(([path, value]) => h('tr', {}, h('th', {}, path), h('td', {}, value)));
  return h('section', { class: 'card' }, h('h2', {}, 'Resolved settings'), h('table', { class: 'settings-table' }, h('tbody', {}, ...rows)));
}

function timings(run: RunRecord, rows: MetricRow[]): [string, string][] {
  const epochRows = (name: string) => rows.filter((row) => row.step === epochStep && row.name === name && Number.isFinite(row.value));
  const trainSeconds = epochRows('epoch_seconds').reduce((sum, row) => sum + row.value, 0);
  const speeds = epochRows('img_per_s').map((row) => row.value);
  const epochs = (run.settings.train as { epochs?: number } | undefined)?.epochs;
  return [
    ['Epochs done', epochs ? `${run.epochsDone} of ${epochs}` : String(run.epochsDone)],
    ['Started', formatTime(run.startedAt)],
    ['Finished', formatTime(run.finishedAt)],
    ['Wall time', formatDuration(run.startedAt, run.finishedAt)],
    ['Training time (sum of epochs)', trainSeconds ? `${formatNumber(trainSeconds)} s` : '—'],
    ['Last epoch', `${formatNumber(run.lastMetrics.epoch_seconds)} s`],
    ['Throughput, last / mean', speeds.length ? `${formatNumber(speeds.at(-1))} / ${formatNumber(speeds.reduce((a, b) => a + b) / speeds.length)} img/s` : '—'],
  ];
}

export function mountRunView(root: HTMLElement, runId: number): View {
  const charts = new Map<ChartDef, LineChart>();
  const head = h('div', { class: 'page-head' });
  const facts = h('section', { class: 'card' });
  const chartArea = h('div', { class: 'charts' });
  const gridImage = h('img', { class: 'sample-grid', alt: 'sample grid' });
  const gridCaption = h('span', { class: 'muted' });
  const gridDownload = h('a', { class: 'download', hidden: true }, 'Download PNG');
  const grids = new Map<number, GridInfo>();
  let rows: MetricRow[] = [];
  const player = new EpochPlayer((epoch) => {
    const grid = grids.get(epoch);
    gridImage.hidden = !grid;
    gridDownload.hidden = !grid;
    if (grid) {
      gridImage.src = grid.url;
      gridImage.dataset.epoch = String(epoch);
      gridImage.alt = `sample grid, epoch ${epoch}`;
      gridDownload.href = grid.url;
      gridDownload.setAttribute('download', `facegan-run-${runId}-epoch-${epoch}.png`);
    }
    gridCaption.textContent = grid ? `epoch ${epoch} · ${grid.width}×${grid.height}px` : `no grid for epoch ${epoch}`;
  });
  const samples = h(
    'section',
    { class: 'card samples' },
    h('h2', {}, 'Samples'),
    player.element,
    h('figure', { class: 'grid-figure' }, gridImage, h('figcaption', {}, gridCaption, ' ', gridDownload)),
  );
  const details = h('div', { class: 'details' });
  const status = h('div');
  const curves = curvesCard(chartArea, charts, renderCharts);
  root.append(status, head, facts, curves, samples, details);

  function renderRun(run: RunRecord, experiment: ExperimentRecord) {
    document.title = `#${run.id} ${run.label || run.variantId} · facegan report`;
    head.replaceChildren(
      h(
        'div',
        {},
        h('nav', { class: 'crumbs' }, h('a', { href: '#/runs' }, 'Runs'), ' / ', run.experimentName, ' / ', `run #${run.id}`),
        h('h1', {}, run.label || run.variantId, ' ', statusBadge(run.status), isLive(run) ? liveNote() : ''),
      ),
      h(
        'div',
        { class: 'exports' },
        'Metrics: ',
        h('a', { href: exportUrl([run.id], 'csv'), download: '' }, 'CSV'),
        ' · ',
        h('a', { href: exportUrl([run.id], 'json'), download: '' }, 'JSON'),
      ),
    );
    clear(facts);
    if (run.error) facts.append(h('div', { class: 'error-box' }, run.error));
    facts.append(
      definitionList([
        ['Experiment', run.experimentName],
        ['Description', experiment.description || '—'],
        ['Variant id', run.variantId],
        ['Backend', run.backend ?? '—'],
        ['Device', run.device ?? '—'],
        ['Created', formatTime(run.createdAt)],
        ...timings(run, rows),
      ]),
    );
    clear(details);
    if (run.datasetSummary) details.append(datasetSection(run.datasetSummary));
    details.append(settingsSection(run.settings));
    details.append(
      h(
        'section',
        { class: 'card spec' },
        h('h2', {}, 'Spec'),
        h('p', { class: 'muted' }, experiment.specFile),
        h('pre', { class: 'spec-text' }, experiment.specText),
      ),
    );
  }

  function renderCharts() {
    const weight = smoothingWeight();
    for (const def of chartDefs) {
      const { spec, columns } = withSmoothing(def.spec, def.columns(rows), def.raw ? 0 : weight);
      const chart = charts.get(def);
      if (chart) chart.update(columns);
      else if (def.shown(rows)) charts.set(def, new LineChart(chartArea, spec, columns));
    }
  }

  function renderGrids(list: GridInfo[]) {
    grids.clear();
    for (const grid of list) grids.set(grid.epoch, grid);
    player.setEpochs([...grids.keys()]);
    if (!list.length) gridCaption.textContent = 'No sample grids yet.';
  }

  let experiment: ExperimentRecord | undefined;
  async function load(): Promise<void> {
    const [run, nextRows, gridList] = await Promise.all([api.run(runId), api.metrics(runId, stepPointsPerChart), api.grids(runId)]);
    experiment ??= await api.experiment(run.experimentId);
    if (disposed) return;
    rows = nextRows;
    renderRun(run, experiment);
    renderCharts();
    renderGrids(gridList);
    status.replaceChildren();
  }

  let disposed = false;
  const loader = liveLoader(load, (error) => status.replaceChildren(errorBox(error)));
  loader.refresh();

  return {
    dispose() {
      disposed = true;
      loader.stop();
      player.destroy();
      for (const chart of charts.values()) chart.destroy();
    },
  };
}
