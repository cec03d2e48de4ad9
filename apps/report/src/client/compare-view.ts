import { api, exportUrl, isLive, type GridInfo, type MetricRow, type RunRecord } from './api';
import { LineChart, curvesCard, runColor, withSmoothing } from './charts';
import { h } from './dom';
import { EpochPlayer } from './epoch-player';
import { FINDINGS_NOTE, findingsTable } from '../findings/findings';
import { findingsRun } from '../findings/findings-run';
import { formatNumber } from './format';
import { liveLoader } from './live';
import { compareColumns } from './series';
import { countSameSettings, differingSettings } from './settings';
import { smoothingWeight } from './smoothing';
import { errorBox, liveNote, statusBadge, type View } from './view';

const comparedMetrics = [
  ['g_loss', 'G loss'],
  ['d_loss_real', 'D loss real'],
  ['d_loss_fake', 'D loss fake'],
  ['d_acc_real', 'D accuracy real'],
  ['d_acc_fake', 'D accuracy fake'],
] as const;
const maxRuns = 100;

interface Compared {
  run: RunRecord;
  rows: MetricRow[];
  grids: Map<number, GridInfo>;
}

async function loadRun(id: number): Promise<Compared> {
  const [run, rows, grids] = await Promise.all([api.run(id), api.metrics(id, 0), api.grids(id)]);
  return { run, rows, grids: new Map(grids.map((grid) => [grid.epoch, grid])) };
}

function runName(run: RunRecord): string {
  return `#${run.id} ${run.label || run.variantId}`;
}

function swatch(index: number): HTMLElement {
  return h('span', { class: 'swatch', style: `background:${runColor(index)}` });
}

/** Final metrics, the known ones first, then any other (e.g. quality scores) that some run has. */
function finalMetricNames(compared: Compared[]): string[] {
  const known: string[] = comparedMetrics.map(([name]) => name);
  const present = new Set(compared.flatMap(({ run }) => Object.keys(run.lastMetrics)));
  return [...known.filter((name) => present.has(name)), ...[...present].filter((name) => !known.includes(name)).sort()];
}

/** One horizontal bar per run, scaled to the largest magnitude among them. */
function metricBars(name: string, compared: Compared[]): HTMLElement {
  const values = compared.map(({ run }) => run.lastMetrics[name]);
  const finite = values.filter((v): v is number => v !== undefined && Number.isFinite(v));
  const scale = Math.max(...finite.map(Math.abs), Number.MIN_VALUE);
  return h(
    'figure',
    { class: 'bars', 'data-metric': name },
    h('figcaption', {}, name),
    ...compared.map(({ run }, i) => {
      const value = values[i];
      const width = value !== undefined && Number.isFinite(value) ? (Math.abs(value) / scale) * 100 : 0;
      return h(
        'div',
        { class: 'bar-row', title: runName(run) },
        h('span', { class: 'bar-label' }, `#${run.id}`),
        h('span', { class: 'bar-track' }, h('span', { class: 'bar', style: `width:${width}%;background:${runColor(i)}` })),
        h('span', { class: 'bar-value' }, formatNumber(value)),
      );
    }),
  );
}

function settingsTable(compared: Compared[]): HTMLElement {
  const settings = compared.map(({ run }) => run.settings);
  const differing = differingSettings(settings);
  const same = countSameSettings(settings, differing);
  const table = h(
    'table',
    { class: 'diff-table' },
    h('thead', {}, h('tr', {}, h('th', {}, 'setting'), ...compared.map(({ run }, i) => h('th', {}, swatch(i), `#${run.id}`)))),
    h(
      'tbody',
      {},
      ...differing.map(({ path, values }) => h('tr', {}, h('th', {}, path), ...values.map((value) => h('td', {}, value)))),
    ),
  );
  return h(
    'div',
    {},
    differing.length ? h('div', { class: 'table-wrap diff-wrap' }, table) : h('p', { class: 'muted' }, 'The runs have the same settings.'),
    h('p', { class: 'muted' }, `${same} setting${same === 1 ? '' : 's'} the same in every run, not shown.`),
  );
}

/**
 * The findings of the runs (as `report:findings` prints them): per run, the share of each attribute in its training
 * data against the judged share in its samples, with intervals, the face rate, SWD, MS-SSIM and D accuracy.
 */
function findingsSection(compared: Compared[]): HTMLElement {
  const findings = compared.map(({ run, rows }) => findingsRun(run, rows));
  if (!findings.some((run) => run.judged)) {
    return h('p', { class: 'muted' }, 'No run was judged yet: the judge runs every judge.every epochs and after the last.');
  }
  const { header, rows } = findingsTable(findings);
  const table = h(
    'table',
    { class: 'diff-table findings-table' },
    h('thead', {}, h('tr', {}, h('th', {}, 'run'), ...header.map((title) => h('th', {}, title)))),
    h(
      'tbody',
      {},
      ...rows.map((cells, i) => h('tr', { 'data-run': compared[i].run.id }, h('th', {}, swatch(i), `#${compared[i].run.id}`), ...cells.map((cell) => h('td', {}, cell)))),
    ),
  );
  return h('div', {}, h('div', { class: 'table-wrap diff-wrap' }, table), h('p', { class: 'muted' }, FINDINGS_NOTE));
}

/** 2..N runs: settings that differ, curves overlaid, final metrics as bars, sample grids on one epoch slider. */
export function mountCompareView(root: HTMLElement, runIds: number[]): View {
  const charts = new Map<string, LineChart>();
  const head = h('div', { class: 'page-head' });
  const status = h('div');
  const settingsCard = h('section', { class: 'card' }, h('h2', {}, 'Settings that differ'));
  const findingsArea = h('div');
  const barsArea = h('div', { class: 'bars-grid' });
  const chartArea = h('div', { class: 'charts' });
  const gridRow = h('div', { class: 'grid-row' });
  let compared: Compared[] = [];
  const player = new EpochPlayer((epoch) => renderGrids(epoch));
  const curves = curvesCard(chartArea, charts, renderCharts);
  root.append(
    status,
    head,
    settingsCard,
    h('section', { class: 'card findings' }, h('h2', {}, 'Findings'), findingsArea),
    h('section', { class: 'card' }, h('h2', {}, 'Final metrics'), barsArea),
    curves,
    h('section', { class: 'card samples' }, h('h2', {}, 'Samples'), player.element, gridRow),
  );

  function renderGrids(epoch: number) {
    gridRow.replaceChildren(
      ...compared.map(({ run, grids }, i) => {
        const grid = grids.get(epoch);
        return h(
          'figure',
          { class: 'grid-figure', 'data-run': run.id },
          grid
            ? h('img', { class: 'sample-grid', src: grid.url, alt: `run ${run.id}, epoch ${epoch}`, 'data-epoch': epoch })
            : h('div', { class: 'no-grid' }, `no grid for epoch ${epoch}`),
          h(
            'figcaption',
            {},
            swatch(i),
            runName(run),
            grid ? h('a', { class: 'download', href: grid.url, download: `facegan-run-${run.id}-epoch-${epoch}.png` }, ' PNG') : '',
          ),
        );
      }),
    );
  }

  function renderHead() {
    const ids = compared.map(({ run }) => run.id);
    const copy = h('button', { type: 'button', class: 'copy-link' }, 'Copy link');
    copy.addEventListener('click', () => {
      void navigator.clipboard?.writeText(location.href).then(() => (copy.textContent = 'Link copied'));
    });
    head.replaceChildren(
      h(
        'div',
        {},
        h('nav', { class: 'crumbs' }, h('a', { href: '#/runs' }, 'Runs'), ' / compare'),
        h('h1', {}, `Comparing ${compared.length} runs`, compared.some(({ run }) => isLive(run)) ? liveNote() : ''),
        h(
          'ul',
          { class: 'legend-list' },
          ...compared.map(({ run }, i) =>
            h(
              'li',
              {},
              swatch(i),
              h('a', { href: `#/runs/${run.id}` }, runName(run)),
              h('span', { class: 'muted' }, ` ${run.experimentName} `),
              statusBadge(run.status),
            ),
          ),
        ),
      ),
      h(
        'div',
        { class: 'exports' },
        copy,
        ' Metrics: ',
        h('a', { href: exportUrl(ids, 'csv'), download: '' }, 'CSV'),
        ' · ',
        h('a', { href: exportUrl(ids, 'json'), download: '' }, 'JSON'),
      ),
    );
  }

  function renderCharts() {
    const rowsPerRun = compared.map((c) => c.rows);
    const weight = smoothingWeight();
    for (const [name, title] of comparedMetrics) {
      const series = compared.map(({ run }, i) => ({ label: `#${run.id}`, color: runColor(i) }));
      const { spec, columns } = withSmoothing({ title, xLabel: 'epoch', series }, compareColumns(rowsPerRun, name), weight);
      const chart = charts.get(name);
      if (chart) chart.update(columns);
      else charts.set(name, new LineChart(chartArea, spec, columns));
    }
  }

  function render() {
    renderHead();
    settingsCard.replaceChildren(h('h2', {}, 'Settings that differ'), settingsTable(compared));
    findingsArea.replaceChildren(findingsSection(compared));
    const names = finalMetricNames(compared);
    barsArea.replaceChildren(...(names.length ? names.map((name) => metricBars(name, compared)) : [h('p', { class: 'muted' }, 'No metrics yet.')]));
    renderCharts();
    const epochs = new Set(compared.flatMap((c) => [...c.grids.keys()]));
    player.setEpochs([...epochs]);
    renderGrids(player.epoch);
    if (!epochs.size) gridRow.replaceChildren(h('p', { class: 'muted' }, 'No sample grids yet.'));
  }

  async function load(): Promise<void> {
    const next = await Promise.all(runIds.map(loadRun));
    if (disposed) return;
    compared = next;
    render();
    status.replaceChildren();
  }

  let disposed = false;
  let stop = () => {};
  if (runIds.length < 2) status.replaceChildren(errorBox('Pick at least two runs to compare in the runs table.'));
  else if (runIds.length > maxRuns) status.replaceChildren(errorBox(`Compare at most ${maxRuns} runs at once.`));
  else {
    const loader = liveLoader(load, (error) => status.replaceChildren(errorBox(error)));
    stop = loader.stop;
    loader.refresh();
  }

  return {
    dispose() {
      disposed = true;
      stop();
      player.destroy();
      for (const chart of charts.values()) chart.destroy();
    },
  };
}
