import * as tf from '@tensorflow/tfjs';
import { probeWebGpu } from './index';

/** Probes once per test file; tests that need an adapter skip with this reason when there is none. */
export async function webGpuForTests(): Promise<{ available: boolean; skipReason: string }> {
  const probe = await probeWebGpu();
  return probe.ok
    ? { available: true, skipReason: '' }
    : { available: false, skipReason: `skipped: ${probe.reason ?? 'no WebGPU adapter'}` };
}

/** A small deterministic generator for test data (mulberry32), so failures reproduce. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

export function randomValues(size: number, random: () => number): Float32Array {
  const values = new Float32Array(size);
  for (let i = 0; i < size; i++) values[i] = random() * 2 - 1;
  return values;
}

/** Runs `compute` on the given backend and returns its values; the backend is switched back after. */
export async function valuesOn(backendName: string, compute: () => tf.Tensor): Promise<Float32Array> {
  const previous = tf.getBackend();
  await tf.setBackend(backendName);
  try {
    const result = compute();
    const values = (await result.data()) as Float32Array;
    result.dispose();
    return values;
  } finally {
    await tf.setBackend(previous);
  }
}

export function maxAbsDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

export function maxAbs(a: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]));
  return max;
}
