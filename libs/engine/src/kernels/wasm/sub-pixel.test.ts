import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { phaseGroups, subPixelKernelsRegistered } from '@facegan/model';
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

  it.each([2, 3, 4])('the adjoint kernels are adjoints (<A x, y> = <x, Aᵀ y>), scale %i, every phase group', (scale) => {
    const random = seededRandom(9 + scale);
    const [ci, co] = [3, 4];
    const dot = (a: Float32Array, b: Float32Array) => a.reduce((sum, v, i) => sum + v * b[i], 0);
    const groups = phaseGroups(scale);
    for (const g of groups) {
      const depth = g.rows * g.cols * co;
      const w = randomValues(9 * ci * co, random);
      const dk = randomValues(g.filterHeight * g.filterWidth * ci * depth, random);
      const k = new Float32Array(dk.length);
      const dw = new Float32Array(9 * ci * co);
      phaseFilter(w, ci, co, k, scale, g.group);
      phaseFilterGrad(dk, ci, co, dw, scale, g.group);
      expect(dot(k, dk), `group ${g.group}`).toBeCloseTo(dot(w, dw), 4);
    }

    // the interleave works inside one buffer (the wasm heap): every group's z and dz, y and dy side by side
    const [batch, h, w] = [2, 3, 4];
    const yShape = [batch, scale * h, scale * w, co];
    const ySize = yShape.reduce((a, b) => a * b);
    const zSizes = groups.map((g) => batch * (h + (g.rowEdge ? 1 : 0)) * (w + (g.colEdge ? 1 : 0)) * g.rows * g.cols * co);
    const zTotal = zSizes.reduce((a, b) => a + b);
    const memory = new Float32Array(2 * (zTotal + ySize));
    const zAt = zSizes.map((_, i) => zSizes.slice(0, i).reduce((a, b) => a + b, 0));
    const [yAt, dyAt, dzBase] = [zTotal, zTotal + ySize, zTotal + 2 * ySize];
    memory.set(randomValues(zTotal, random), 0);
    memory.set(randomValues(ySize, random), dyAt);
    interleavePhases(memory, groups.map((g, i) => ({ group: g.group, at: zAt[i] })), yShape, yAt, scale);
    groups.forEach((g, i) => deinterleavePhases(memory, dyAt, yShape, { group: g.group, at: dzBase + zAt[i] }, scale));
    const y = memory.subarray(yAt, yAt + ySize);
    const dy = memory.subarray(dyAt, dyAt + ySize);
    const z = memory.subarray(0, zTotal);
    const dz = memory.subarray(dzBase, dzBase + zTotal);
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
