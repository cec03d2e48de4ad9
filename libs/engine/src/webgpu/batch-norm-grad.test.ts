import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initWebGpu } from './index';
import { maxAbs, maxAbsDifference, randomValues, seededRandom, valuesOn, webGpuForTests } from './test-support';

const webGpu = await webGpuForTests();

/**
 * Tolerance: per-channel sums of R = N·H·W float32 terms in another order than tfjs-core's gradient
 * on the cpu backend: 5e-6·√R relative to the largest |gradient|; measured on lavapipe: max error
 * ≤ 3.8e-6 × max|gradient|.
 */
function tolerance(rows: number, reference: Float32Array): number {
  return 5e-6 * Math.sqrt(rows) * Math.max(1, maxAbs(reference));
}

/**
 * A training-mode batch norm as tfjs-layers runs it (moments, then tf.batchNorm), inside a loss with
 * per-element weights so that dy differs everywhere; returns the gradients of x, γ and β, concatenated.
 */
function gradients(shape: number[], seed: number, withMomentsGraph: boolean): () => tf.Tensor {
  const random = seededRandom(seed);
  const channels = shape[shape.length - 1];
  const xValues = randomValues(tf.util.sizeFromShape(shape), random).map((v) => 3 * v + 0.5);
  const weights = randomValues(tf.util.sizeFromShape(shape), random);
  const gamma = randomValues(channels, random).map((v) => v + 1.5);
  const beta = randomValues(channels, random);
  const fixedMean = randomValues(channels, random);
  const fixedVariance = randomValues(channels, random).map((v) => v + 1.2);
  return () => {
    const axes = shape.slice(0, -1).map((_, i) => i);
    const loss = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const { mean, variance } = withMomentsGraph
        ? tf.moments(x, axes)
        : { mean: tf.tensor1d(fixedMean), variance: tf.tensor1d(fixedVariance) };
      const y = tf.batchNorm(x, mean, variance, b, g, 1e-3);
      return tf.sum(tf.mul(tf.square(y), tf.tensor(weights, shape)));
    };
    const grads = tf.grads(loss)([tf.tensor(xValues, shape), tf.tensor1d(gamma), tf.tensor1d(beta)]);
    return tf.concat(grads.map((g) => tf.reshape(g, [-1])));
  };
}

describe.skipIf(!webGpu.available)(`fused batch-norm gradient on webgpu ${webGpu.skipReason}`, () => {
  beforeAll(async () => {
    await initWebGpu();
  });

  const random = seededRandom(19);
  const pick = (low: number, high: number) => low + Math.floor(random() * (high - low + 1));
  const shapes = [[2, 4, 4, 3], [3, 5, 7, 33], [64, 9], [1, 1, 1, 5], [2, 3, 70], ...Array.from({ length: 5 }, () => [pick(1, 6), pick(1, 9), pick(1, 9), pick(1, 40)])];

  it.each(shapes.map((shape, i) => [i, shape] as const))('case %i (%o) matches tfjs-core\'s gradient on the cpu backend', async (index, shape) => {
    for (const withMoments of [true, false]) {
      const compute = gradients(shape, 100 + index, withMoments);
      const reference = await valuesOn('cpu', compute);
      const got = await valuesOn('webgpu', compute);
      const rows = tf.util.sizeFromShape(shape) / shape[shape.length - 1];
      expect(maxAbsDifference(got, reference)).toBeLessThanOrEqual(tolerance(rows, reference));
    }
  });

  it('runs the fused kernels, not the tiled copies of tfjs-core', async () => {
    const compute = gradients([2, 4, 4, 8], 7, false);
    const profile = await tf.profile(() => {
      compute().dispose();
    });
    const names = profile.kernels.map((k) => k.name);
    expect(names).toContain('FaceganBatchNormGradSums');
    expect(names).toContain('FaceganBatchNormGradX');
    // tfjs-core's gradient tiles 1/√(σ² + ε) to the activation's shape and takes Rsqrt; the one Tile
    // left is the loss's Sum gradient.
    expect(names).not.toContain('Rsqrt');
    expect(names.filter((name) => name === 'Tile')).toHaveLength(1);
  });
});
