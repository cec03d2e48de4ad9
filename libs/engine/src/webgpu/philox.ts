/**
 * Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11; the generator
 * of cuRAND and PyTorch): a counter-based generator, so every GPU thread draws its own numbers from
 * (key, counter) with no state to carry between kernels. The WGSL and JS versions compute the same
 * bits, which lets the tests check the GPU masks exactly against the CPU reference.
 */

const MULTIPLIER_0 = 0xd2511f53;
const MULTIPLIER_1 = 0xcd9e8d57;
const WEYL_0 = 0x9e3779b9;
const WEYL_1 = 0xbb67ae85;
const ROUNDS = 10;

/** The high 32 bits of the 64-bit product of two u32, from 16-bit halves (WGSL has no 64-bit integers). */
function mulHigh(a: number, b: number): number {
  const aLow = a & 0xffff;
  const aHigh = a >>> 16;
  const bLow = b & 0xffff;
  const bHigh = b >>> 16;
  const lowLow = aLow * bLow;
  const lowHigh = aLow * bHigh;
  const highLow = aHigh * bLow;
  const middle = (lowLow >>> 16) + (lowHigh & 0xffff) + (highLow & 0xffff);
  return (aHigh * bHigh + Math.floor(lowHigh / 65536) + Math.floor(highLow / 65536) + Math.floor(middle / 65536)) >>> 0;
}

/** Philox4x32-10 of a 128-bit counter under a 64-bit key: four independent uniform u32. */
export function philox4x32(counter: readonly number[], key: readonly number[]): [number, number, number, number] {
  let [c0, c1, c2, c3] = counter.map((word) => word >>> 0);
  let [k0, k1] = key.map((word) => word >>> 0);
  for (let round = 0; round < ROUNDS; round++) {
    const high0 = mulHigh(MULTIPLIER_0, c0);
    const low0 = Math.imul(MULTIPLIER_0, c0) >>> 0;
    const high1 = mulHigh(MULTIPLIER_1, c2);
    const low1 = Math.imul(MULTIPLIER_1, c2) >>> 0;
    [c0, c1, c2, c3] = [(high1 ^ c1 ^ k0) >>> 0, low1, (high0 ^ c3 ^ k1) >>> 0, low0];
    k0 = (k0 + WEYL_0) >>> 0;
    k1 = (k1 + WEYL_1) >>> 0;
  }
  return [c0, c1, c2, c3];
}

/** WGSL of the same generator: `philox4x32(counter, key) -> vec4<u32>`. */
export const PHILOX_WGSL = /* wgsl */ `
fn philoxMulHigh(a : u32, b : u32) -> u32 {
  let aLow = a & 0xffffu;
  let aHigh = a >> 16u;
  let bLow = b & 0xffffu;
  let bHigh = b >> 16u;
  let lowLow = aLow * bLow;
  let lowHigh = aLow * bHigh;
  let highLow = aHigh * bLow;
  let middle = (lowLow >> 16u) + (lowHigh & 0xffffu) + (highLow & 0xffffu);
  return aHigh * bHigh + (lowHigh >> 16u) + (highLow >> 16u) + (middle >> 16u);
}

fn philox4x32(counterIn : vec4<u32>, keyIn : vec2<u32>) -> vec4<u32> {
  var c = counterIn;
  var k = keyIn;
  for (var round = 0; round < ${ROUNDS}; round++) {
    let high0 = philoxMulHigh(${MULTIPLIER_0}u, c.x);
    let low0 = ${MULTIPLIER_0}u * c.x;
    let high1 = philoxMulHigh(${MULTIPLIER_1}u, c.z);
    let low1 = ${MULTIPLIER_1}u * c.z;
    c = vec4<u32>(high1 ^ c.y ^ k.x, low1, high0 ^ c.w ^ k.y, low0);
    k = k + vec2<u32>(${WEYL_0}u, ${WEYL_1}u);
  }
  return c;
}
`;

/** Splits a seed (a non-negative integer below 2^53) into the two 32-bit words of a Philox key. */
export function seedToKey(seed: number): [number, number] {
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new Error(`seed must be a non-negative safe integer, got ${seed}`);
  }
  return [seed % 2 ** 32, Math.floor(seed / 2 ** 32)];
}
