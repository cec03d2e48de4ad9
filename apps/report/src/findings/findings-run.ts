import type { MetricRow, RunRecord } from '@facegan/store';
import type { FindingsRun } from './findings';

/** The epoch summary step of the store (EPOCH_SUMMARY_STEP): a type-only import keeps the store out of the browser bundle. */
const SUMMARY_STEP = -1;

/** The judge's metrics that the findings show: read only these from the store. */
export const FINDINGS_METRICS: readonly string[] = [
  ...['share_male', 'share_glasses', 'share_facial_hair', 'face_rate'].flatMap((name) => [name, `${name}_low`, `${name}_high`]),
  'face_rate_real',
  'swd_mean',
  'msssim_fake',
  'msssim_real',
];

/** JSON has no NaN: the report's API sends NaN (a share of no faces, a diverged loss) as null. */
const numberOrNaN = (value: unknown): number => (typeof value === 'number' ? value : NaN);

/**
 * A run's findings: its training data's counts (datasetSummary.counts), D accuracy of its last epoch (lastMetrics),
 * and the judge's metrics of the last epoch judged (the last epoch with `swd_mean` among its summary rows).
 */
export function findingsRun(run: RunRecord, rows: readonly MetricRow[]): FindingsRun {
  const summary = rows.filter((row) => row.step === SUMMARY_STEP);
  const judgedEpoch = Math.max(-Infinity, ...summary.filter((row) => row.name === 'swd_mean').map((row) => row.epoch));
  const counts = run.datasetSummary?.counts;
  return {
    label: run.label,
    status: run.status,
    epochsDone: run.epochsDone,
    counts: counts && typeof counts === 'object' ? (counts as FindingsRun['counts']) : null,
    lastMetrics: Object.fromEntries(Object.entries(run.lastMetrics).map(([name, value]) => [name, numberOrNaN(value)])),
    judged: Number.isFinite(judgedEpoch)
      ? {
          epoch: judgedEpoch,
          metrics: Object.fromEntries(summary.filter((row) => row.epoch === judgedEpoch).map((row) => [row.name, numberOrNaN(row.value)])),
        }
      : null,
  };
}
