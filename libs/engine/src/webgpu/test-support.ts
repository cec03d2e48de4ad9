import * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { probeWebGpu } from './index';

/** Probes once per test file; tests that need an adapter skip with this reason when there is none. */
export async function webGpuForTests(): Promise<{ available: boolean; skipReason: string }> {
  const probe = await probeWebGpu();
  return probe.ok
    ? { available: true, skipReason: '' }
    : { available: false, skipReason: `skipped: ${probe.reason ?? 'no WebGPU adapter'}` };
}

/** The shared seeded generator, so failures reproduce. */
export { seededRandom } from '@facegan/random';

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

/**
 * Tolerance for the convolution GEMMs: float32 sums over K terms in a different order than the cpu
 * backend; allowed: 2e-6·√K relative to the largest |output|. Measured on lavapipe: max error ≤ 3.0e-7
 * (backprop-filter, K = batch·outH·outW), 6.3e-7 (backprop-input, K = taps·co) and 3.3e-7 (forward,
 * K = kh·kw·ci) × the largest |output|.
 */
export function gemmTolerance(dimK: number, reference: Float32Array): number {
  return 2e-6 * Math.sqrt(dimK) * Math.max(1, maxAbs(reference));
}

/** Output size along one axis of a convolution with 'same' or 'valid' padding. */
export function convOutSize(size: number, filter: number, stride: number, pad: 'same' | 'valid'): number {
  return pad === 'same' ? Math.ceil(size / stride) : Math.ceil((size - filter + 1) / stride);
}

/** How many tensors `run` makes from CPU values (engine.makeTensor: an upload). */
export async function tensorsMadeOnCpu(run: () => Promise<unknown>): Promise<number> {
  const engine = tf.engine();
  const originalMakeTensor = engine.makeTensor;
  let made = 0;
  engine.makeTensor = function (this: typeof engine, ...args: Parameters<typeof originalMakeTensor>) {
    made++;
    return originalMakeTensor.apply(this, args);
  };
  try {
    await run();
  } finally {
    engine.makeTensor = originalMakeTensor;
  }
  return made;
}

/** The shader keys of the programs `run` dispatches on the webgpu backend, in order. */
export async function programsRun(run: () => Promise<unknown>): Promise<string[]> {
  const backend = tf.findBackend('webgpu') as WebGPUBackend;
  const original = backend.runWebGPUProgram;
  const keys: string[] = [];
  backend.runWebGPUProgram = function (this: WebGPUBackend, ...args: Parameters<WebGPUBackend['runWebGPUProgram']>) {
    keys.push(args[0].shaderKey ?? '');
    return original.apply(this, args);
  };
  try {
    await run();
  } finally {
    backend.runWebGPUProgram = original;
  }
  return keys;
}

/** The convolution GEMMs' code-generation options, each combination a test run (setGemmVectorTiles, setGemmPrefetch, setGemmDoubleBuffer). */
export const GEMM_MODES = [
  { name: 'scalar tiles', vector: false, prefetch: false, double: false },
  { name: 'vec4 tiles', vector: true, prefetch: false, double: false },
  { name: 'scalar tiles + prefetch', vector: false, prefetch: true, double: false },
  { name: 'vec4 tiles + prefetch', vector: true, prefetch: true, double: false },
  { name: 'double scalar tiles', vector: false, prefetch: true, double: true },
  { name: 'double vec4 tiles', vector: true, prefetch: true, double: true },
] as const;
