import { describe, expect, it } from 'vitest';
import { FloatRadixSorter } from './sort';
import { seededRandom } from '@facegan/random';
import { normal } from './random';

describe('FloatRadixSorter', () => {
  it('sorts like Float32Array.prototype.sort, negatives, zeros and infinities included', () => {
    const draw = normal(seededRandom(3));
    const values = Float32Array.from({ length: 10_000 }, (_, i) => (i % 97 === 0 ? 0 : draw() * 10 ** ((i % 7) - 3)));
    values.set([-0, Infinity, -Infinity, 1e-40, -1e-40, 3.4e38], 100);
    const expected = values.slice().sort();
    const sorter = new FloatRadixSorter();
    const sorted = sorter.sort(values);
    expect(sorted).toBe(values);
    // -0 and 0 compare equal in sort() but differ by sign bit: compare as numbers
    expect(Array.from(sorted, (v) => (Object.is(v, -0) ? 0 : v))).toEqual(Array.from(expected, (v) => (Object.is(v, -0) ? 0 : v)));
  });

  it('reuses its buffers for shorter and longer arrays', () => {
    const sorter = new FloatRadixSorter();
    expect(Array.from(sorter.sort(Float32Array.from([3, -1, 2])))).toEqual([-1, 2, 3]);
    const long = Float32Array.from({ length: 5000 }, (_, i) => (i * 7919) % 5000);
    expect(Array.from(sorter.sort(long))).toEqual(Array.from({ length: 5000 }, (_, i) => i));
    expect(Array.from(sorter.sort(Float32Array.from([0.5, -0.5])))).toEqual([-0.5, 0.5]);
  });
});
