import type { MetricRow, RunRecord } from '@facegan/store';

export interface RunMetrics {
  run: RunRecord;
  metrics: MetricRow[];
}

const csvHeader = ['run_id', 'experiment', 'variant_id', 'label', 'epoch', 'step', 'name', 'value', 'time'];

/** A CSV text cell: quoted when needed, and never read as a formula by a spreadsheet. */
function textCell(text: string): string {
  const safe = /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

/** One row per metric row (step -1: the epoch summary); NaN is written as NaN. */
export function metricsCsv(runs: RunMetrics[]): string {
  const lines = [csvHeader.join(',')];
  for (const { run, metrics } of runs) {
    const prefix = [String(run.id), textCell(run.experimentName), textCell(run.variantId), textCell(run.label)].join(',');
    for (const row of metrics) {
      lines.push(`${prefix},${row.epoch},${row.step},${textCell(row.name)},${row.value},${row.time}`);
    }
  }
  return lines.join('\r\n') + '\r\n';
}

/** The runs with their settings and every metric row; JSON has no NaN, so a diverged value is null. */
export function metricsJson(runs: RunMetrics[]) {
  return {
    runs: runs.map(({ run, metrics }) => ({
      id: run.id,
      experiment: run.experimentName,
      variantId: run.variantId,
      label: run.label,
      status: run.status,
      backend: run.backend,
      device: run.device,
      settings: run.settings,
      metrics,
    })),
  };
}

export function exportFileName(runIds: number[], extension: string): string {
  const which = runIds.length === 1 ? `run-${runIds[0]}` : runIds.length <= 8 ? `runs-${runIds.join('-')}` : `${runIds.length}-runs`;
  return `facegan-${which}-metrics.${extension}`;
}
