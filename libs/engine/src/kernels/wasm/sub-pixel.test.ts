import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { subPixelKernelsRegistered, upsampleConv2d } from '@facegan/model';
import { beforeAll, describe, expect, it } from 'vitest';
import { maxAbs, maxAbsDifference, randomValues, seededRandom } from '../../webgpu/test-support';
import { registerCpuKernelFixes } from '../../cpu-kernels';
import { registerWasmTrainingKernels } from './index';
import { deinterleavePhases, interleavePhases, phaseFilter, phaseFilterGrad } from './sub-pixel';

interface Case {
  batch: number;
  size: [number, number];
  inChannels: number;
  outChannels: number;
}

/** The block's output and its gradients (x, kernel, bias) under a random linear loss, on one backend. */
async function block(backendName: string, c: Case, seed: number): Promise<Float32Array[]> {
  await tf.setBackend(backendName);
  const random = seededRandom(seed);
  const [h, w] = c.size;
  const x = tf.tensor4d(randomValues(c.batch * h * w * c.inChannels, random), [c.batch, h, w, c.inChannels]);
  const kernel = tf.tensor4d(randomValues(9 * c.inChannels * c.outChannels, random), [3, 3, c.inChannels, c.outChannels]);
  const bias = tf.tensor1d(randomValues(c.outChannels, random));
  const weights = tf.tensor4d(randomValues(c.batch * 4 * h * w * c.outChannels, random), [c.batch, 2 * h, 2 * w, c.outChannels]);
  const f = (a: tf.Tensor, k: tf.Tensor, b: tf.Tensor) => upsampleConv2d(a as tf.Tensor4D, k as tf.Tensor4D, b as tf.Tensor1D, 2);
  const { value, grads } = tf.valueAndGrads((a: tf.Tensor, k: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a, k, b), weights)))([x, kernel, bias]);
  const out = f(x, kernel, bias);
  const result = [out, ...grads].map((t) => t.dataSync() as Float32Array);
  tf.dispose([x, kernel, bias, weights, value, out, ...grads]);
  return result;
}

describe('sub-pixel upsample + conv on wasm', () => {
  beforeAll(async () => {
    registerCpuKernelFixes(); // the reference's ResizeNearestNeighborGrad (stock cpu's is wrong for batch > 1)
    registerWasmTrainingKernels();
    await tf.setBackend('wasm');
  });

  it('runs the fused path on wasm only', () => {
    expect(subPixelKernelsRegistered('wasm')).toBe(true);
    expect(subPixelKernelsRegistered('cpu')).toBe(false);
  });

  it.each<Case>([
    { batch: 2, size: [4, 4], inChannels: 3, outChannels: 5 },
    { batch: 3, size: [5, 7], inChannels: 8, outChannels: 2 },
    { batch: 1, size: [1, 1], inChannels: 4, outChannels: 4 },
    { batch: 4, size: [8, 8], inChannels: 16, outChannels: 12 },
  ])('matches upsampling + conv on cpu: output and gradients ($batch×$size, $inChannels→$outChannels)', async (c) => {
    const seed = c.batch * 100 + c.inChannels;
    const reference = await block('cpu', c, seed);
    const got = await block('wasm', c, seed);
    // float32 sums of up to 9·ci terms in another order (taps pre-summed in the phase filter)
    reference.forEach((values, i) => {
      expect(maxAbsDifference(got[i], values), `output ${i}`).toBeLessThanOrEqual(2e-6 * Math.max(1, maxAbs(values)));
    });
  });

  it('the adjoint kernels are adjoints (<A x, y> = <x, Aᵀ y>)', () => {
    const random = seededRandom(9);
    const [ci, co] = [3, 4];
    const w = randomValues(9 * ci * co, random);
    const dk = randomValues(16 * ci * co, random);
    const k = new Float32Array(16 * ci * co);
    const dw = new Float32Array(9 * ci * co);
    phaseFilter(w, ci, co, k);
    phaseFilterGrad(dk, ci, co, dw);
    const dot = (a: Float32Array, b: Float32Array) => a.reduce((sum, v, i) => sum + v * b[i], 0);
    expect(dot(k, dk)).toBeCloseTo(dot(w, dw), 4);

    const zShape = [2, 4, 5, 4 * co];
    const yShape = [2, 6, 8, co];
    const z = randomValues(zShape.reduce((a, b) => a * b), random);
    const dy = randomValues(yShape.reduce((a, b) => a * b), random);
    const y = new Float32Array(dy.length);
    const dz = new Float32Array(z.length);
    interleavePhases(z, zShape, y);
    deinterleavePhases(dy, yShape, dz);
    expect(dot(y, dy)).toBeCloseTo(dot(z, dz), 4);
  });

  it('leaks no tensors or wasm memory', async () => {
    const c: Case = { batch: 2, size: [4, 4], inChannels: 3, outChannels: 5 };
    await block('wasm', c, 1);
    const tensors = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) await block('wasm', c, 1);
    expect(tf.memory().numTensors).toBe(tensors);
  });
});
