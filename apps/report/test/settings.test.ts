import { describe, expect, it } from 'vitest';
import { countSameSettings, differingSettings, flattenSettings, settingAt } from '../src/client/settings';
import { smooth } from '../src/client/series';

const male = { dataset: { size: 16, where: { gender: 'male' } }, model: { dropout: 0.25, tags: ['a'] } };
const mixed = { dataset: { size: 16, where: {} }, model: { dropout: 0.5, tags: ['a'] } };

describe('settings of runs', () => {
  it('flattens to dotted paths, keeping arrays and empty objects as values', () => {
    expect([...flattenSettings(male)]).toEqual([
      ['dataset.size', '16'],
      ['dataset.where.gender', 'male'],
      ['model.dropout', '0.25'],
      ['model.tags', '["a"]'],
    ]);
    expect(flattenSettings(mixed).get('dataset.where')).toBe('{}');
    expect(settingAt(male, 'dataset.where.gender')).toBe('male');
    expect(settingAt(mixed, 'dataset.where.gender')).toBeUndefined();
  });

  it('shows only what differs, one level up where some runs lack the setting', () => {
    expect(differingSettings([male, mixed])).toEqual([
      { path: 'dataset.where', values: ['{"gender":"male"}', '{}'] },
      { path: 'model.dropout', values: ['0.25', '0.5'] },
    ]);
    expect(countSameSettings([male, mixed], differingSettings([male, mixed]))).toBe(2); // dataset.size, model.tags
    expect(differingSettings([male, male])).toEqual([]);
    expect(differingSettings([{ a: 1 }, { a: 1, b: 2 }])).toEqual([{ path: 'b', values: ['—', '2'] }]);
  });
});

describe('smoothing', () => {
  it('is off at weight 0, debiased at the start, and keeps gaps as gaps', () => {
    const raw = [1, 3, null, 3];
    expect(smooth(raw, 0)).toBe(raw);
    const smoothed = smooth(raw, 0.5);
    expect(smoothed[0]).toBeCloseTo(1); // not pulled towards 0
    expect(smoothed[1]).toBeCloseTo((0.5 * 0.5 + 0.5 * 3) / 0.75);
    expect(smoothed[2]).toBeNull();
    expect(smoothed[3]).toBeGreaterThan(smoothed[1]!);
    expect(smooth([Number.NaN, 2], 0.9)).toEqual([null, expect.closeTo(2)]);
  });
});
