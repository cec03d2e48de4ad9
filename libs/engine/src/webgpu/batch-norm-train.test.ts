import * as tf from '@tensorflow/tfjs';
import { BATCH_NORM_TRAIN_GRAD, BATCH_VARIANCE, MOVING_AVERAGE } from '@facegan/model';
import { beforeAll, describe, expect, it } from 'vitest';
import { BATCH_NORM_SHAPES, batchNormBlock, batchNormErrorsAgainstCpu } from '../test-fixtures';
import { initWebGpu } from './index';
import { webGpuForTests } from './test-support';

const webGpu = await webGpuForTests();

describe.skipIf(!webGpu.available)(`FaceganBatchNormalization's kernels on webgpu ${webGpu.skipReason}`, () => {
  beforeAll(async () => {
    await initWebGpu();
  });

  it('are registered', () => {
    expect(tf.getKernel(BATCH_NORM_TRAIN_GRAD, 'webgpu')).toBeDefined();
    expect(tf.getKernel(MOVING_AVERAGE, 'webgpu')).toBeDefined();
    expect(tf.getKernel(BATCH_VARIANCE, 'webgpu')).toBeDefined();
  });

  // output, dx, dγ, dβ, mean, variance, moving average: float32 sums in another order than the cpu's
  it.each(BATCH_NORM_SHAPES.map((shape) => [shape]))('match the tfjs ops on cpu: output, gradients, moments, moving average (%j)', async (shape) => {
    const errors = await batchNormErrorsAgainstCpu('webgpu', shape);
    expect(errors).toHaveLength(7);
    errors.forEach((error, i) => expect(error, `output ${i}`).toBeLessThanOrEqual(2e-5));
  });

  it('leak no tensors', async () => {
    await batchNormBlock('webgpu', BATCH_NORM_SHAPES[0], 1);
    const tensors = tf.memory().numTensors;
    await batchNormBlock('webgpu', BATCH_NORM_SHAPES[0], 1);
    expect(tf.memory().numTensors).toBe(tensors);
  });
});
