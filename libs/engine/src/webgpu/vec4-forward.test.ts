import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initWebGpu } from './index';
import { maxAbs, maxAbsDifference, programsRun, randomValues, seededRandom, valuesOn, webGpuForTests } from './test-support';

const webGpu = await webGpuForTests();

describe.skipIf(!webGpu.available)(`vec4 FusedBatchNorm, Relu and LeakyRelu on webgpu ${webGpu.skipReason}`, () => {
  beforeAll(async () => {
    await initWebGpu();
  });

  const random = seededRandom(37);
  const pick = (low: number, high: number) => low + Math.floor(random() * (high - low + 1));
  // channel counts that are and are not multiples of 4 (the latter run the stock kernels)
  const shapes = [[2, 3, 3, 8], [5, 4], [3, 7], [2, 5, 5, 3], ...Array.from({ length: 5 }, () => [pick(1, 4), pick(1, 9), pick(1, 9), 4 * pick(1, 9)])];

  it.each(shapes.map((shape, i) => [i, shape] as const))('batch norm case %i (%o) matches the cpu backend', async (index, shape) => {
    const channels = shape[shape.length - 1];
    const values = randomValues(tf.util.sizeFromShape(shape), seededRandom(300 + index));
    const vector = (seed: number, low: number) => Float32Array.from(randomValues(channels, seededRandom(seed)), (v) => low + Math.abs(v));
    const compute = () =>
      tf.batchNorm(
        tf.tensor(values, shape),
        tf.tensor1d(randomValues(channels, seededRandom(400 + index))),
        tf.tensor1d(vector(500 + index, 0.1)),
        tf.tensor1d(randomValues(channels, seededRandom(600 + index))),
        tf.tensor1d(vector(700 + index, 0.5)),
        1e-3,
      );
    const reference = await valuesOn('cpu', compute);
    const got = await valuesOn('webgpu', compute);
    // a few roundings in another order (and inverseSqrt's): relative to the largest output
    expect(maxAbsDifference(got, reference)).toBeLessThanOrEqual(1e-6 * Math.max(1, maxAbs(reference)));
  });

  // α·x in float32 (the cpu backend multiplies by α as a double: 0.2 is not a float32): exactly that
  it.each(shapes.map((shape, i) => [i, shape] as const))('relu and leaky relu case %i (%o) compute α·x in float32', async (index, shape) => {
    const values = randomValues(tf.util.sizeFromShape(shape), seededRandom(800 + index));
    values[0] = 0;
    for (const alpha of [0, 0.2]) {
      const expected = values.map((v) => (v < 0 ? Math.fround(Math.fround(alpha) * v) : v));
      const got = await valuesOn('webgpu', () => (alpha === 0 ? tf.relu(tf.tensor(values, shape)) : tf.leakyRelu(tf.tensor(values, shape), alpha)));
      expect(maxAbsDifference(got, expected)).toBe(0);
    }
  });

  it('runs the vec4 programs where the channels allow, the stock ones elsewhere', async () => {
    const keysFor = (shape: number[]) =>
      programsRun(async () => {
        const channels = shape[shape.length - 1];
        const x = tf.ones(shape);
        const [mean, variance, offset, scale] = [0, 1, 0, 1].map((v) => tf.fill([channels], v));
        const outputs = [tf.batchNorm(x, mean, variance, offset, scale, 1e-3), tf.relu(x), tf.leakyRelu(x, 0.2)];
        await Promise.all(outputs.map((t) => t.data()));
        tf.dispose([x, mean, variance, offset, scale, ...outputs]);
      });
    const vectorized = await keysFor([2, 3, 3, 8]);
    expect(vectorized.filter((key) => key.startsWith('faceganBatchNorm') || key.startsWith('faceganRectifier'))).toEqual([
      'faceganBatchNorm_vec4',
      'faceganRectifier_vec4',
      'faceganRectifier_vec4',
    ]);
    const stock = await keysFor([2, 3, 3, 3]);
    expect(stock.some((key) => key.startsWith('faceganBatchNorm') || key.startsWith('faceganRectifier'))).toBe(false);
  });
});
