/** Seeded randomness: every judge metric must come out the same for the same inputs and seed. */

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

/** A 32-bit hash of float values (FNV-1a over their bits): seeds that follow an image's content, not its position. */
export function hashFloats(values: Float32Array): number {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  let h = 0x811c9dc5;
  for (let i = 0; i < bits.length; i++) h = Math.imul(h ^ bits[i], 0x01000193);
  return h >>> 0;
}
