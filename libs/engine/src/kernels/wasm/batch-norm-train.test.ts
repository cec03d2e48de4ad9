import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { BATCH_NORM_TRAIN_GRAD, MOVING_AVERAGE } from '@facegan/model';
import { beforeAll, describe, expect, it } from 'vitest';
import { BATCH_NORM_SHAPES, batchNormBlock, batchNormErrorsAgainstCpu } from '../../test-fixtures';
import { registerWasmTrainingKernels } from './index';

describe("FaceganBatchNormalization's kernels on wasm", () => {
  beforeAll(async () => {
    registerWasmTrainingKernels();
    await tf.setBackend('wasm');
  });

  it('are registered', () => {
    expect(tf.getKernel(BATCH_NORM_TRAIN_GRAD, 'wasm')).toBeDefined();
    expect(tf.getKernel(MOVING_AVERAGE, 'wasm')).toBeDefined();
  });

  // output, dx, dγ, dβ, mean, variance, moving average: float32 sums in another order than the cpu's
  it.each(BATCH_NORM_SHAPES.map((shape) => [shape]))('match the tfjs ops on cpu: output, gradients, moments, moving average (%j)', async (shape) => {
    const errors = await batchNormErrorsAgainstCpu('wasm', shape);
    expect(errors).toHaveLength(7);
    errors.forEach((error, i) => expect(error, `output ${i}`).toBeLessThanOrEqual(2e-5));
  });

  it('leak no tensors or wasm memory', async () => {
    await batchNormBlock('wasm', BATCH_NORM_SHAPES[1], 1);
    const tensors = tf.memory().numTensors;
    const bytes = tf.memory().numBytes;
    await batchNormBlock('wasm', BATCH_NORM_SHAPES[1], 1);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(tf.memory().numBytes).toBe(bytes);
  });
});
