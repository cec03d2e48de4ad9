import { describe, expect, it } from 'vitest';
import { mixSeed, sampleIndices, seededRandom, shuffled } from './index';

describe('seeded randomness', () => {
  it('gives the same stream for the same seed and different streams for neighbouring seeds', () => {
    const draw = (seed: number) => Array.from({ length: 5 }, seededRandom(seed));
    expect(draw(7)).toEqual(draw(7));
    expect(draw(7)).not.toEqual(draw(8));
    const values = Array.from({ length: 10_000 }, seededRandom(1));
    expect(Math.min(...values)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...values)).toBeLessThan(1);
    expect(values.reduce((a, b) => a + b) / values.length).toBeCloseTo(0.5, 1);
  });

  it('mixes seeds so that order and neighbours matter', () => {
    expect(mixSeed(1, 2)).toBe(mixSeed(1, 2));
    expect(mixSeed(1, 2)).not.toBe(mixSeed(2, 1));
    expect(new Set([0, 1, 2, 3].map((i) => mixSeed(5, i))).size).toBe(4);
  });

  it('shuffles and samples without repeats', () => {
    const items = Array.from({ length: 50 }, (_, i) => i);
    const mixed = shuffled(items, seededRandom(3));
    expect(mixed).not.toEqual(items);
    expect([...mixed].sort((a, b) => a - b)).toEqual(items);
    const sample = sampleIndices(100, 30, 9);
    expect(new Set(sample).size).toBe(30);
    expect(Math.max(...sample)).toBeLessThan(100);
    expect(sampleIndices(100, 30, 9)).toEqual(sample);
    expect(() => sampleIndices(3, 4, 1)).toThrow(/cannot take 4 of 3/);
  });
});
