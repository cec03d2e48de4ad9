import { describe, expect, it } from 'vitest';
import { wilson } from './wilson';

describe('wilson', () => {
  it('matches published intervals', () => {
    // Newcombe (1998), table I: 81/263 -> 0.2553 to 0.3662; 15/148 -> 0.0624 to 0.1605
    const a = wilson(81, 263);
    expect(a.share).toBeCloseTo(81 / 263, 10);
    expect(a.low).toBeCloseTo(0.2553, 4);
    expect(a.high).toBeCloseTo(0.3662, 4);
    const b = wilson(15, 148);
    expect(b.low).toBeCloseTo(0.0624, 4);
    expect(b.high).toBeCloseTo(0.1605, 4);
  });

  it('stays informative at the edges', () => {
    const none = wilson(0, 20);
    expect(none).toMatchObject({ share: 0, low: 0 });
    expect(none.high).toBeCloseTo(0.1611, 4);
    const all = wilson(20, 20);
    expect(all.share).toBe(1);
    expect(all.high).toBe(1);
    expect(all.low).toBeCloseTo(1 - 0.1611, 4);
  });

  it('narrows with n and widens with z', () => {
    const small = wilson(5, 10);
    const large = wilson(500, 1000);
    expect(large.high - large.low).toBeLessThan((small.high - small.low) / 5);
    const wide = wilson(5, 10, 2.576);
    expect(wide.low).toBeLessThan(small.low);
    expect(wide.high).toBeGreaterThan(small.high);
  });

  it('knows nothing without observations and rejects impossible counts', () => {
    const empty = wilson(0, 0);
    expect(empty.share).toBeNaN();
    expect(empty).toMatchObject({ low: 0, high: 1 });
    expect(() => wilson(3, 2)).toThrow(RangeError);
    expect(() => wilson(-1, 2)).toThrow(RangeError);
    expect(() => wilson(1, 2.5)).toThrow(RangeError);
  });
});
