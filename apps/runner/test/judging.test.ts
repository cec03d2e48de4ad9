import { describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS } from '@facegan/spec';
import { createJudging, formatJudgeLine, judgeEpoch } from '../src/judging';

describe('judging in sweeps', () => {
  const judging = createJudging({ runsFolder: '/nonexistent', cacheDir: '/nonexistent' });
  const dataset = { resolution: 32, channels: 3 as const, count: 0, images: new Float32Array(0), items: [] } as never;

  it('judges every judge.every epochs and the last, and nothing when off', () => {
    const settings = { ...DEFAULT_SETTINGS, train: { ...DEFAULT_SETTINGS.train, epochs: 25 } };
    const judge = judging.forVariant(settings, dataset);
    expect([1, 9, 10, 11, 20, 24, 25].filter((epoch) => judge?.judges(epoch))).toEqual([10, 20, 25]);
    expect(judging.forVariant({ ...settings, judge: { ...settings.judge, enabled: false } }, dataset)).toBeNull();
  });

  it('says what a judged epoch found in one line, and a failure without stopping', async () => {
    const metrics = { face_rate: 0.92, share_male: 0.973, share_male_low: 0.951, share_male_high: 0.984, swd_mean: 41.23 };
    expect(formatJudgeLine(10, metrics)).toBe('judge epoch 10: faces 92% men 97% [95–98] swd 41.2');
    expect(formatJudgeLine(3, { face_rate: 0, share_male: NaN, share_male_low: 0, share_male_high: 1, swd_mean: 300 })).toBe(
      'judge epoch 3: faces 0% men – swd 300.0',
    );
    const failing = { judges: () => true, judge: () => Promise.reject(new Error('no classifier')) };
    await expect(judgeEpoch(failing, 4, async () => new Float32Array())).resolves.toEqual({ metrics: {}, line: 'judge epoch 4 failed: no classifier' });
    await expect(judgeEpoch(null, 4, async () => new Float32Array())).resolves.toEqual({ metrics: {}, line: null });
  });
});
