/** Seeded randomness: every judge metric must come out the same for the same inputs and seed. */

/** Mixes values into a well-spread 32-bit seed (murmur3 finaliser per value), so related seeds get unrelated streams. */
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
export function uniform(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal draws (Box–Muller) from a uniform stream. */
export function normal(random: () => number): () => number {
  return () => {
    const u = 1 - random(); // (0, 1]: log(0) would be -Infinity
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
  };
}

/** Integer in [low, high). */
export function integerIn(random: () => number, low: number, high: number): number {
  return low + Math.floor(random() * (high - low));
}

/** The first `count` of a seeded shuffle of 0..n-1 (Fisher–Yates): a random subset without repeats, in random order. */
export function sampleIndices(n: number, count: number, seed: number): Uint32Array {
  if (count > n) throw new RangeError(`cannot take ${count} of ${n} without repeats`);
  const random = uniform(seed);
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  for (let i = 0; i < count; i++) {
    const j = integerIn(random, i, n);
    const swap = order[i];
    order[i] = order[j];
    order[j] = swap;
  }
  return order.slice(0, count);
}

/** A 32-bit hash of float values (FNV-1a over their bits): seeds that follow an image's content, not its position. */
export function hashFloats(values: Float32Array): number {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  let h = 0x811c9dc5;
  for (let i = 0; i < bits.length; i++) h = Math.imul(h ^ bits[i], 0x01000193);
  return h >>> 0;
}
