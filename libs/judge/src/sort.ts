/**
 * In-place ascending sort of float32 values by radix (3 passes of 11, 11 and 10 bits over order-preserving integer
 * keys). SWD sorts 2 × 512 arrays of 65,536 projections per pyramid level: this is ~3× faster than
 * Float32Array.prototype.sort there. NaN sorts after +Infinity.
 */
export class FloatRadixSorter {
  private keys = new Uint32Array(0);
  private scratch = new Uint32Array(0);
  private readonly counts = new Uint32Array(2048 * 3);

  sort(values: Float32Array): Float32Array {
    const n = values.length;
    if (this.keys.length < n) {
      this.keys = new Uint32Array(n);
      this.scratch = new Uint32Array(n);
    }
    const bits = new Uint32Array(values.buffer, values.byteOffset, n);
    const counts = this.counts;
    counts.fill(0);
    let source = this.keys;
    let target = this.scratch;
    for (let i = 0; i < n; i++) {
      const raw = bits[i];
      // negative floats: flip every bit (larger magnitude = smaller); positive: set the sign bit
      const key = (raw & 0x80000000 ? ~raw : raw | 0x80000000) >>> 0;
      source[i] = key;
      counts[key & 2047]++;
      counts[2048 + ((key >>> 11) & 2047)]++;
      counts[4096 + (key >>> 22)]++;
    }
    for (let pass = 0; pass < 3; pass++) {
      const offset = pass * 2048;
      let sum = 0;
      for (let bucket = 0; bucket < 2048; bucket++) {
        const count = counts[offset + bucket];
        counts[offset + bucket] = sum;
        sum += count;
      }
      const shift = pass * 11;
      for (let i = 0; i < n; i++) {
        const key = source[i];
        target[counts[offset + ((key >>> shift) & 2047)]++] = key;
      }
      const swap = source;
      source = target;
      target = swap;
    }
    for (let i = 0; i < n; i++) {
      const key = source[i];
      bits[i] = key & 0x80000000 ? key & 0x7fffffff : ~key;
    }
    return values;
  }
}
