import type { MetricRow } from '@facegan/store';

/**
 * Keeps every epoch-summary row (step = -1) and at most `maxStepRows` step rows per metric name, evenly spaced and
 * always including the last, so a long run's step curve stays a few thousand points and polling stays cheap.
 */
export function thinStepRows(rows: MetricRow[], maxStepRows: number): MetricRow[] {
  const stepRowsByName = new Map<string, MetricRow[]>();
  const kept: MetricRow[] = [];
  for (const row of rows) {
    if (row.step < 0) kept.push(row);
    else {
      const list = stepRowsByName.get(row.name) ?? [];
      list.push(row);
      stepRowsByName.set(row.name, list);
    }
  }
  if (maxStepRows <= 0) return kept;
  for (const list of stepRowsByName.values()) {
    if (list.length <= maxStepRows) {
      kept.push(...list);
      continue;
    }
    if (maxStepRows === 1) {
      kept.push(list[list.length - 1]);
      continue;
    }
    const stride = (list.length - 1) / (maxStepRows - 1);
    for (let i = 0; i < maxStepRows; i++) kept.push(list[Math.round(i * stride)]);
  }
  return kept;
}
