import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { h } from './dom';
import { smooth, type Columns } from './series';
import { smoothingControl } from './smoothing';

export interface SeriesStyle {
  label: string;
  color: string;
  /** Line width in pixels, default 2. */
  width?: number;
}

export interface ChartSpec {
  title: string;
  xLabel: string;
  series: SeriesStyle[];
}

export const palette = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#ca8a04', '#db2777'];

/** A distinct colour per run, however many runs are compared. */
export function runColor(index: number): string {
  if (index < palette.length) return palette[index];
  const hue = Math.round((index * 137.508) % 360); // golden angle: neighbours stay far apart
  return `hsl(${hue} 65% 45%)`;
}

/**
 * With smoothing, each series is drawn twice: raw, thin and faint, and smoothed on top in its colour. Raw data is
 * always on the chart.
 */
export function withSmoothing(spec: ChartSpec, columns: Columns, weight: number): { spec: ChartSpec; columns: Columns } {
  if (weight <= 0) return { spec, columns };
  return {
    spec: {
      ...spec,
      series: spec.series.flatMap((style) => [
        { label: `${style.label} (raw)`, color: fade(style.color), width: 1 },
        { ...style, label: `${style.label} (smoothed)` },
      ]),
    },
    columns: { x: columns.x, ys: columns.ys.flatMap((ys) => [ys, smooth(ys, weight)]) },
  };
}

function fade(color: string): string {
  return color.startsWith('#') ? `${color}55` : color.replace(')', ' / 0.35)');
}

const chartHeight = 240;
// Epochs and steps are whole numbers: no 1.5 ticks on the x axis.
const integerSteps = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000, 1_000_000];

function alignedData(columns: Columns): uPlot.AlignedData {
  return [columns.x, ...columns.ys] as uPlot.AlignedData;
}

/** A uPlot line chart that follows its container's width and can be given new data (live runs). */
export class LineChart {
  readonly element: HTMLElement;
  private readonly plot: uPlot;
  private readonly resizeObserver: ResizeObserver;

  constructor(parent: HTMLElement, spec: ChartSpec, columns: Columns) {
    this.element = h('figure', { class: 'chart', 'data-chart': spec.title });
    parent.append(this.element);
    const options: uPlot.Options = {
      title: spec.title,
      width: this.width(),
      height: chartHeight,
      scales: { x: { time: false } },
      axes: [{ label: spec.xLabel, labelSize: 20, incrs: integerSteps }, {}],
      series: [
        { label: spec.xLabel },
        ...spec.series.map((style) => ({
          label: style.label,
          stroke: style.color,
          width: style.width ?? 2,
          spanGaps: true,
          points: { show: columns.x.length <= 60, size: 5 },
        })),
      ],
    };
    this.plot = new uPlot(options, alignedData(columns), this.element);
    this.resizeObserver = new ResizeObserver(() => this.plot.setSize({ width: this.width(), height: chartHeight }));
    this.resizeObserver.observe(this.element);
  }

  update(columns: Columns): void {
    this.plot.setData(alignedData(columns));
  }

  destroy(): void {
    this.resizeObserver.disconnect();
    this.plot.destroy();
    this.element.remove();
  }

  private width(): number {
    return Math.max(280, Math.floor(this.element.clientWidth || 480));
  }
}

/** The "Training curves" card over `chartArea`; moving its smoothing slider drops `charts` and calls `render`. */
export function curvesCard(chartArea: HTMLElement, charts: Map<unknown, LineChart>, render: () => void): HTMLElement {
  return h(
    'section',
    { class: 'card' },
    h(
      'div',
      { class: 'card-head' },
      h('h2', {}, 'Training curves'),
      smoothingControl(() => {
        for (const chart of charts.values()) chart.destroy();
        charts.clear();
        render();
      }),
    ),
    chartArea,
  );
}
