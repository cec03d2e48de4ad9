import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { subPixelKernelsRegistered } from '@facegan/model';
import { beforeAll, describe, expect, it } from 'vitest';
import { registerCpuKernelFixes } from '../../cpu-kernels';
import { SUB_PIXEL_CASES, upsampleConvBlock, upsampleConvErrorsAgainstCpu, type UpsampleConvCase } from '../../test-fixtures';
import { randomValues, seededRandom } from '../../webgpu/test-support';
import { registerWasmTrainingKernels } from './index';
import { deinterleavePhases, interleavePhases, phaseFilter, phaseFilterGrad } from './sub-pixel';

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

  // float32 sums of up to 9·ci terms in another order (taps pre-summed in the phase filter)
  it.each<UpsampleConvCase>(SUB_PIXEL_CASES)('matches upsampling + conv on cpu: output and gradients ($batch×$size, $inChannels→$outChannels, scale $scale)', async (c) => {
    const errors = await upsampleConvErrorsAgainstCpu('wasm', c);
    expect(errors).toHaveLength(4);
    errors.forEach((error, i) => expect(error, `output ${i}`).toBeLessThanOrEqual(2e-6));
  });

  it.each([2, 3, 4])('the adjoint kernels are adjoints (<A x, y> = <x, Aᵀ y>), scale %i', (scale) => {
    const random = seededRandom(9 + scale);
    const [ci, co, phases] = [3, 4, scale * scale];
    const w = randomValues(9 * ci * co, random);
    const dk = randomValues(4 * phases * ci * co, random);
    const k = new Float32Array(4 * phases * ci * co);
    const dw = new Float32Array(9 * ci * co);
    phaseFilter(w, ci, co, k, scale);
    phaseFilterGrad(dk, ci, co, dw, scale);
    const dot = (a: Float32Array, b: Float32Array) => a.reduce((sum, v, i) => sum + v * b[i], 0);
    expect(dot(k, dk)).toBeCloseTo(dot(w, dw), 4);

    // the interleave kernels work inside one buffer (the wasm heap): z, y, dy and dz side by side
    const zShape = [2, 4, 5, phases * co];
    const yShape = [2, 3 * scale, 4 * scale, co];
    const zSize = zShape.reduce((a, b) => a * b);
    const ySize = yShape.reduce((a, b) => a * b);
    const memory = new Float32Array(2 * (zSize + ySize));
    const [zAt, yAt, dyAt, dzAt] = [0, zSize, zSize + ySize, zSize + 2 * ySize];
    memory.set(randomValues(zSize, random), zAt);
    memory.set(randomValues(ySize, random), dyAt);
    interleavePhases(memory, zAt, zShape, yAt, scale);
    deinterleavePhases(memory, dyAt, yShape, dzAt, scale);
    const [z, y, dy, dz] = [
      memory.subarray(zAt, zAt + zSize),
      memory.subarray(yAt, yAt + ySize),
      memory.subarray(dyAt, dyAt + ySize),
      memory.subarray(dzAt, dzAt + zSize),
    ];
    expect(dot(y, dy)).toBeCloseTo(dot(z, dz), 4);
  });

  it('leaks no tensors or wasm memory', async () => {
    const c = SUB_PIXEL_CASES[0];
    await upsampleConvBlock('wasm', c, 1);
    const tensors = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) await upsampleConvBlock('wasm', c, 1);
    expect(tf.memory().numTensors).toBe(tensors);
  });
});
