import { api, isLive, type GridInfo, type MetricRow, type RunRecord } from './api';
import { LineChart, palette } from './charts';
import { h } from './dom';
import { EpochPlayer } from './epoch-player';
import { pollWhile } from './poll';
import { compareColumns } from './series';
import { errorBox, liveNote, statusBadge, type View } from './view';

const comparedMetrics = [
  ['g_loss', 'G loss'],
  ['d_loss_real', 'D loss real'],
  ['d_loss_fake', 'D loss fake'],
  ['d_acc_real', 'D accuracy real'],
  ['d_acc_fake', 'D accuracy fake'],
] as const;

interface Compared {
  run: RunRecord;
  rows: MetricRow[];
  grids: Map<number, GridInfo>;
}

async function loadRun(id: number): Promise<Compared> {
  const [run, rows, grids] = await Promise.all([api.run(id), api.metrics(id, 0), api.grids(id)]);
  return { run, rows, grids: new Map(grids.map((grid) => [grid.epoch, grid])) };
}

/** Curves of the selected runs overlaid, and their sample grids side by side on one epoch slider. */
export function mountCompareView(root: HTMLElement, runIds: number[]): View {
  const charts = new Map<string, LineChart>();
  const head = h('div', { class: 'page-head' });
  const status = h('div');
  const chartArea = h('div', { class: 'charts' });
  const gridRow = h('div', { class: 'grid-row' });
  let compared: Compared[] = [];
  const player = new EpochPlayer((epoch) => renderGrids(epoch));
  root.append(
    status,
    head,
    h('section', { class: 'card' }, h('h2', {}, 'Training curves'), chartArea),
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
          h('figcaption', {}, h('span', { class: 'swatch', style: `background:${palette[i % palette.length]}` }), `#${run.id} ${run.label || run.variantId}`),
        );
      }),
    );
  }

  function render() {
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
              h('span', { class: 'swatch', style: `background:${palette[i % palette.length]}` }),
              h('a', { href: `#/runs/${run.id}` }, `#${run.id} ${run.label || run.variantId}`),
              h('span', { class: 'muted' }, ` ${run.experimentName} `),
              statusBadge(run.status),
            ),
          ),
        ),
      ),
    );
    const rowsPerRun = compared.map((c) => c.rows);
    for (const [name, title] of comparedMetrics) {
      const columns = compareColumns(rowsPerRun, name);
      const chart = charts.get(name);
      if (chart) chart.update(columns);
      else {
        const series = compared.map(({ run }, i) => ({ label: `#${run.id}`, color: palette[i % palette.length] }));
        charts.set(name, new LineChart(chartArea, { title, xLabel: 'epoch', series }, columns));
      }
    }
    const epochs = new Set(compared.flatMap((c) => [...c.grids.keys()]));
    player.setEpochs([...epochs]);
    if (!epochs.size) gridRow.replaceChildren(h('p', { class: 'muted' }, 'No sample grids yet.'));
  }

  async function load(): Promise<boolean> {
    const next = await Promise.all(runIds.map(loadRun));
    if (disposed) return false;
    compared = next;
    render();
    renderGrids(player.epoch);
    return compared.some(({ run }) => isLive(run));
  }

  let disposed = false;
  let stopPolling = () => {};
  if (!runIds.length) status.replaceChildren(errorBox('Pick runs to compare in the runs table.'));
  else
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
