import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { h } from './dom';
import type { Columns } from './series';

export interface SeriesStyle {
  label: string;
  color: string;
}

export interface ChartSpec {
  title: string;
  xLabel: string;
  series: SeriesStyle[];
}

export const palette = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#ca8a04', '#db2777'];

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
          width: 2,
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
