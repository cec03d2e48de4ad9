import type { MetricRow } from '@facegan/store';

/** Columns for a chart: shared x values, and one y column per series with null where it has no point. */
export interface Columns {
  x: number[];
  ys: (number | null)[][];
}

/** The store's EPOCH_SUMMARY_STEP; a copy, because the client bundle must not pull in the store's runtime (SQLite). */
export const epochStep = -1;

/** Epoch-summary rows (step = -1) of the given metrics, x = epoch. */
export function epochColumns(rows: MetricRow[], names: string[]): Columns {
  return columns(
    rows.filter((row) => row.step === epochStep && names.includes(row.name)),
    names.map((name) => (row: MetricRow) => row.name === name),
    (row) => row.epoch,
  );
}

/** Step rows (step ≥ 0, the global step) of the given metrics, x = step. */
export function stepColumns(rows: MetricRow[], names: string[]): Columns {
  return columns(
    rows.filter((row) => row.step >= 0 && names.includes(row.name)),
    names.map((name) => (row: MetricRow) => row.name === name),
    (row) => row.step,
  );
}

/** One metric of several runs side by side, x = epoch: one y column per run. */
export function compareColumns(rowsPerRun: MetricRow[][], name: string): Columns {
  const tagged = rowsPerRun.flatMap((rows, run) =>
    rows.filter((row) => row.step === epochStep && row.name === name).map((row) => ({ ...row, run })),
  );
  return columns(
    tagged,
    rowsPerRun.map((_rows, run) => (row: (typeof tagged)[number]) => row.run === run),
    (row) => row.epoch,
  );
}

function columns<R extends MetricRow>(rows: R[], belongs: ((row: R) => boolean)[], xOf: (row: R) => number): Columns {
  const x = [...new Set(rows.map(xOf))].sort((a, b) => a - b);
  const index = new Map(x.map((value, i) => [value, i]));
  const ys = belongs.map(() => x.map((): number | null => null));
  for (const row of rows) {
    belongs.forEach((test, series) => {
      if (test(row)) ys[series][index.get(xOf(row))!] = row.value;
    });
  }
  return { x, ys };
}

export function hasStepRows(rows: MetricRow[]): boolean {
  return rows.some((row) => row.step >= 0);
}

/**
 * Exponential moving average with TensorBoard's debiasing (the first points are not pulled towards 0). `weight` 0 is no
 * smoothing; gaps (null, NaN) stay gaps and do not reset the average.
 */
export function smooth(values: (number | null)[], weight: number): (number | null)[] {
  if (weight <= 0) return values;
  let average = 0;
  let count = 0;
  return values.map((value) => {
    if (value === null || !Number.isFinite(value)) return null;
    average = average * weight + (1 - weight) * value;
    count++;
    return average / (1 - weight ** count);
  });
}
