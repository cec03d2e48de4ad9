import { describe, expect, it } from 'vitest';
import { cartoonLabels } from './cartoon';
import { chooseCartoonIndices, matchesFilter } from './subset';

describe('chooseCartoonIndices', () => {
  it('gives exactly `size` distinct faces, the same ones in the same order for the same settings', () => {
    const settings = { size: 300, where: {}, seed: 7 };
    const first = chooseCartoonIndices(settings);
    expect(first).toHaveLength(300);
    expect(new Set(first).size).toBe(300);
    expect(chooseCartoonIndices({ ...settings, where: {} })).toEqual(first);
  });

  it('another seed picks another subset', () => {
    const a = chooseCartoonIndices({ size: 100, where: {}, seed: 1 });
    const b = chooseCartoonIndices({ size: 100, where: {}, seed: 2 });
    expect(a).not.toEqual(b);
    expect(new Set(a).size).toBe(100);
  });

  it('keeps only faces matching every key of `where`', () => {
    const men = chooseCartoonIndices({ size: 250, where: { gender: 'male' }, seed: 3 });
    expect(men).toHaveLength(250);
    expect(men.every((i) => cartoonLabels(i).gender === 'male')).toBe(true);

    const where = { gender: 'female', glasses: true, hairColor: 'blonde' } as const;
    const picked = chooseCartoonIndices({ size: 40, where, seed: 3 });
    expect(picked).toHaveLength(40);
    for (const i of picked) expect(cartoonLabels(i)).toMatchObject(where);
  });

  it('treats an empty filter and undefined keys as no constraint', () => {
    const labels = cartoonLabels(0);
    expect(matchesFilter(labels, {})).toBe(true);
    expect(matchesFilter(labels, { glasses: undefined })).toBe(true);
    expect(matchesFilter(labels, { gender: labels.gender === 'male' ? 'female' : 'male' })).toBe(false);
  });

  it('says how many faces matched when the filter cannot be met', () => {
    expect(() => chooseCartoonIndices({ size: 10, where: { gender: 'female', facialHair: true }, seed: 1 })).toThrow(
      /only 0 of the first 50000 faces match where \{"gender":"female","facialHair":true\}, but size 10 was asked/,
    );
    expect(() => chooseCartoonIndices({ size: 0, where: {}, seed: 1 })).toThrow(/positive integer/);
  });
});
