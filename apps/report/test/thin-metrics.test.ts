import { describe, expect, it } from 'vitest';
import type { MetricRow } from '@facegan/store';
import { thinStepRows } from '../src/server/thin-metrics';

const row = (epoch: number, step: number, name: string): MetricRow => ({ epoch, step, name, value: step, time: 0 });

describe('thinStepRows', () => {
  const epochRows = [row(1, -1, 'g_loss'), row(2, -1, 'g_loss'), row(2, -1, 'd_loss_real')];
  const gSteps = Array.from({ length: 1001 }, (_, step) => row(1, step, 'g_loss'));
  const dSteps = Array.from({ length: 5 }, (_, step) => row(1, step, 'd_loss_real'));
  const rows = [...epochRows, ...gSteps, ...dSteps];

  it('keeps every epoch row and at most the asked number of step rows per metric, first and last included', () => {
    const thinned = thinStepRows(rows, 11);
    expect(thinned.filter((r) => r.step < 0)).toEqual(epochRows);
    const g = thinned.filter((r) => r.name === 'g_loss' && r.step >= 0).map((r) => r.step);
    expect(g).toEqual([0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]);
    expect(thinned.filter((r) => r.name === 'd_loss_real' && r.step >= 0)).toEqual(dSteps);
  });

  it('drops step rows entirely for 0', () => {
    expect(thinStepRows(rows, 0)).toEqual(epochRows);
  });

  it('keeps the latest step row when asked for one', () => {
    expect(thinStepRows(gSteps, 1).map((r) => r.step)).toEqual([1000]);
  });
});
