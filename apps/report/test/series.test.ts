import { describe, expect, it } from 'vitest';
import type { MetricRow } from '@facegan/store';
import { compareColumns, epochColumns, hasStepRows, stepColumns } from '../src/client/series';

const row = (epoch: number, step: number, name: string, value: number): MetricRow => ({ epoch, step, name, value, time: 0 });

const rows = [
  row(1, -1, 'g_loss', 2),
  row(1, -1, 'd_loss_real', 0.7),
  row(2, -1, 'g_loss', 1.5),
  row(3, -1, 'img_per_s', 100),
  row(1, 0, 'g_loss', 2.2),
  row(1, 5, 'g_loss', 2.1),
];

describe('chart columns', () => {
  it('takes epoch rows (step -1) of the asked metrics, with gaps as null', () => {
    expect(epochColumns(rows, ['d_loss_real', 'g_loss'])).toEqual({
      x: [1, 2],
      ys: [
        [0.7, null],
        [2, 1.5],
      ],
    });
  });

  it('takes step rows (step >= 0) with the global step as x', () => {
    expect(stepColumns(rows, ['g_loss'])).toEqual({ x: [0, 5], ys: [[2.2, 2.1]] });
    expect(stepColumns(rows, ['d_acc_real'])).toEqual({ x: [], ys: [[]] });
    expect(hasStepRows(rows)).toBe(true);
    expect(hasStepRows(rows.filter((r) => r.step < 0))).toBe(false);
  });

  it('lines up one metric of several runs on the union of their epochs', () => {
    const other = [row(2, -1, 'g_loss', 1.2), row(3, -1, 'g_loss', 1.1)];
    expect(compareColumns([rows, other], 'g_loss')).toEqual({
      x: [1, 2, 3],
      ys: [
        [2, 1.5, null],
        [null, 1.2, 1.1],
      ],
    });
  });
});
