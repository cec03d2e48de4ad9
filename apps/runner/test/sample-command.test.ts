import { describe, expect, it } from 'vitest';
import type { CheckpointRecord } from '@facegan/store';
import { chooseCheckpoint, SampleError } from '../src/sample-command';

const checkpoint = (epoch: number): CheckpointRecord => ({
  runId: 3,
  epoch,
  globalStep: epoch * 10,
  path: `e/v/epoch-${String(epoch).padStart(4, '0')}`,
  createdAt: '2026-11-26T00:00:00.000Z',
});

describe('chooseCheckpoint', () => {
  const checkpoints = [2, 4, 6].map(checkpoint);

  it('takes the last without an epoch, else the one at the epoch or the nearest before it', () => {
    expect(chooseCheckpoint(checkpoints, 3).epoch).toBe(6);
    expect(chooseCheckpoint(checkpoints, 3, 4).epoch).toBe(4);
    expect(chooseCheckpoint(checkpoints, 3, 5).epoch).toBe(4);
    expect(chooseCheckpoint(checkpoints, 3, 100).epoch).toBe(6);
  });

  it('says which epochs there are when none is at or before the epoch, and when the run has none', () => {
    expect(() => chooseCheckpoint(checkpoints, 3, 1)).toThrow(new SampleError('run 3 has no checkpoint at or before epoch 1 (it has epochs 2, 4, 6)'));
    expect(() => chooseCheckpoint([], 3)).toThrow(/run 3 has no checkpoint yet/);
  });
});
