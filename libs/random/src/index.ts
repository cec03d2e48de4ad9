/**
 * Seeded randomness shared by every lib: the same seed gives the same faces, subsets, batches and judge
 * samples on every machine. (Tensor randomness on a device stays with the engine.)
 */

/** Mixes values into a well-spread 32-bit seed (murmur3's finaliser per value), so related seeds get unrelated streams. */
export function mixSeed(...values: number[]): number {
  let h = 0x5bd1e995;
  for (const value of values) {
    h = Math.imul(h ^ (value | 0), 0x9e3779b1);
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h >>> 0;
}

/** mulberry32: uniform floats in [0, 1) from a 32-bit seed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A Fisher–Yates shuffled copy of `items`, driven by `random`. */
export function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const copy = items.slice();
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j], copy[i]];
  }
  return copy;
}

/** The first `count` of a seeded shuffle of 0..n-1: a random subset without repeats, in random order. */
export function sampleIndices(n: number, count: number, seed: number): Uint32Array {
  if (count > n) throw new RangeError(`cannot take ${count} of ${n} without repeats`);
  const random = seededRandom(seed);
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(random() * (n - i));
    const swap = order[i];
    order[i] = order[j];
    order[j] = swap;
  }
  return order.slice(0, count);
}
