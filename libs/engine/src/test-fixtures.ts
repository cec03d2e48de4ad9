import * as tf from '@tensorflow/tfjs';
import type { Dataset } from '@facegan/data';
import { batchNormTraining, MOVING_AVERAGE, upsampleConv2d } from '@facegan/model';
import type { Settings } from '@facegan/spec';
import { seededRandom } from '@facegan/random';
import { maxAbs, maxAbsDifference, randomValues } from './webgpu/test-support';
import { createTrainer, type StepMetrics } from './trainer';

/**
 * A tiny variant: 32 px, batch 4, width 1/32 (G filters 8, 8, 4; D filters 1, 2, 4, 8, 16).
 * The cpu backend's Conv2DBackpropFilter is a naive loop: at width 0.125 one step takes seconds.
 */
export function tinySettings(train: Partial<Settings['train']> = {}, width = 1 / 32): Settings {
  return {
    dataset: { source: 'cartoon', size: 16, where: {}, seed: 1, channels: 3, flip: false, crop: 'center' },
    model: { resolution: 32, width, dropout: 0.25, latentDim: 32 },
    train: { epochs: 2, batchSize: 4, learningRate: 2e-4, beta1: 0.5, seed: 1, logEvery: 1, ...train },
    engine: { backend: 'cpu', checkpointEvery: 1, threads: 1 },
    judge: { every: 1, samples: 8, enabled: false },
  };
}

/** `count` random images in [-1, 1]. */
export function randomDataset(count: number, resolution = 32, seed = 1): Dataset {
  const random = seededRandom(seed);
  const images = new Float32Array(count * resolution * resolution * 3).map(() => random() * 2 - 1);
  return {
    resolution,
    channels: 3,
    count,
    images,
    items: [],
    summary: {
      source: 'random',
      size: count,
      images: count,
      where: {},
      seed,
      channels: 3,
      crop: 'center',
      flip: false,
      parts: [],
      counts: {},
      files: [],
      itemsHash: '',
      skipped: [],
    },
    cache: { folder: '', prepared: 0, reused: 0 },
  };
}

/**
 * `steps` seeded training steps of `settings` on the current backend (batch 4 of randomDataset, latents
 * and dropout masks from the device-random streams, so every backend draws the same numbers): the
 * metrics of each step and the generator's weights after the last.
 */
export async function trainSeededSteps(settings: Settings, steps: number): Promise<{ metrics: StepMetrics[]; generatorWeights: Float32Array[] }> {
  const trainer = createTrainer(settings, { deviceRandom: true });
  try {
    const metrics: StepMetrics[] = [];
    for (let step = 0; step < steps; step++) {
      const batch = tf.tensor4d(randomDataset(4, 32, 100 + step).images, [4, 32, 32, 3]);
      metrics.push(await trainer.stepAsync(batch));
      batch.dispose();
    }
    const generatorWeights = await Promise.all(trainer.generator.getWeights().map(async (w) => (await w.data()) as Float32Array));
    return { metrics, generatorWeights };
  } finally {
    trainer.dispose();
  }
}

export interface UpsampleConvCase {
  batch: number;
  size: [number, number];
  inChannels: number;
  outChannels: number;
  /** The upsampling factor. */
  scale: number;
}

/** upsampleConv2d(x, kernel, bias, scale)'s output and its gradients (x, kernel, bias) under a random linear loss, on one backend. */
export async function upsampleConvBlock(backendName: string, c: UpsampleConvCase, seed: number): Promise<Float32Array[]> {
  await tf.setBackend(backendName);
  const random = seededRandom(seed);
  const [h, w] = c.size;
  const { scale } = c;
  const x = tf.tensor4d(randomValues(c.batch * h * w * c.inChannels, random), [c.batch, h, w, c.inChannels]);
  const kernel = tf.tensor4d(randomValues(9 * c.inChannels * c.outChannels, random), [3, 3, c.inChannels, c.outChannels]);
  const bias = tf.tensor1d(randomValues(c.outChannels, random));
  const weights = tf.tensor4d(randomValues(c.batch * scale * scale * h * w * c.outChannels, random), [c.batch, scale * h, scale * w, c.outChannels]);
  const f = (a: tf.Tensor, k: tf.Tensor, b: tf.Tensor) => upsampleConv2d(a as tf.Tensor4D, k as tf.Tensor4D, b as tf.Tensor1D, scale);
  const { value, grads } = tf.valueAndGrads((a: tf.Tensor, k: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a, k, b), weights)))([x, kernel, bias]);
  const out = f(x, kernel, bias);
  const result = await Promise.all([out, ...grads].map(async (t) => (await t.data()) as Float32Array));
  tf.dispose([x, kernel, bias, weights, value, out, ...grads]);
  return result;
}

/**
 * For upsampleConv2d's output and each of its three gradients on `backendName`: the largest difference
 * from the cpu backend's (the stock upsampling + conv), relative to max(1, largest |cpu value|).
 */
export async function upsampleConvErrorsAgainstCpu(backendName: string, c: UpsampleConvCase): Promise<number[]> {
  const seed = c.batch * 100 + c.inChannels + 17 * c.scale;
  const reference = await upsampleConvBlock('cpu', c, seed);
  const got = await upsampleConvBlock(backendName, c, seed);
  return reference.map((values, i) => maxAbsDifference(got[i], values) / Math.max(1, maxAbs(values)));
}

/** Shapes for the sub-pixel kernels' tests: odd sizes, 1×1, few and many channels, scales 2, 3 (96 px) and 4 (128 px). */
export const SUB_PIXEL_CASES: UpsampleConvCase[] = [
  { batch: 2, size: [4, 4], inChannels: 3, outChannels: 5, scale: 2 },
  { batch: 3, size: [5, 7], inChannels: 8, outChannels: 2, scale: 2 },
  { batch: 1, size: [1, 1], inChannels: 4, outChannels: 4, scale: 2 },
  { batch: 4, size: [8, 8], inChannels: 16, outChannels: 12, scale: 2 },
  { batch: 2, size: [4, 5], inChannels: 6, outChannels: 7, scale: 3 },
  { batch: 2, size: [3, 4], inChannels: 4, outChannels: 8, scale: 3 },
  { batch: 1, size: [1, 1], inChannels: 2, outChannels: 3, scale: 3 },
  { batch: 2, size: [3, 3], inChannels: 5, outChannels: 4, scale: 4 },
];

/**
 * FaceganBatchNormalization's training op on one backend (libs/model/src/batch-norm.ts): its output, its gradients
 * (x, γ, β) under a random linear loss, the batch mean and variance, and a moving-average update of a random
 * vector towards the mean (the kernel where registered, else tfjs ops).
 */
export async function batchNormBlock(backendName: string, shape: number[], seed: number): Promise<Float32Array[]> {
  await tf.setBackend(backendName);
  const random = seededRandom(seed);
  const channels = shape[shape.length - 1];
  const size = shape.reduce((a, b) => a * b, 1);
  const x = tf.tensor(randomValues(size, random).map((v) => 3 * v + 1), shape);
  const scale = tf.tensor1d(randomValues(channels, random).map((v) => 1 + 0.5 * v));
  const offset = tf.tensor1d(randomValues(channels, random));
  const lossWeights = tf.tensor(randomValues(size, random), shape);
  const average = tf.tensor1d(randomValues(channels, random));
  const result = tf.tidy(() => {
    const f = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const { normalized, mean, variance } = batchNormTraining(a, g as tf.Tensor1D, b as tf.Tensor1D, 1e-3);
      tf.dispose([mean, variance]);
      return tf.sum(tf.mul(normalized, lossWeights)) as tf.Scalar;
    };
    const { grads } = tf.valueAndGrads(f)([x, scale, offset]);
    const { normalized, mean, variance } = batchNormTraining(x, scale, offset, 1e-3);
    const moved = tf.getKernel(MOVING_AVERAGE, backendName)
      ? (tf.engine().runKernel(MOVING_AVERAGE, { average, value: mean }, { decay: 0.2 } as unknown as tf.NamedAttrMap) as tf.Tensor)
      : tf.sub(average, tf.mul(tf.sub(average, mean), 0.2));
    return [normalized, ...grads, mean, variance, moved];
  });
  const values = await Promise.all(result.map(async (t) => (await t.data()) as Float32Array));
  tf.dispose([x, scale, offset, lossWeights, average, ...result]);
  return values;
}

/** For each of batchNormBlock's outputs on `backendName`: the largest difference from the cpu backend's, relative to max(1, largest |cpu value|). */
export async function batchNormErrorsAgainstCpu(backendName: string, shape: number[]): Promise<number[]> {
  const seed = shape.reduce((a, b) => a * b, 1);
  const reference = await batchNormBlock('cpu', shape, seed);
  const got = await batchNormBlock(backendName, shape, seed);
  return reference.map((values, i) => maxAbsDifference(got[i], values) / Math.max(1, maxAbs(values)));
}

/** Shapes for the batch-norm kernels' tests: channels-last, odd sizes, one and many channels, rank 2 and 4. */
export const BATCH_NORM_SHAPES: number[][] = [
  [2, 3, 5, 7],
  [4, 8, 8, 32],
  [3, 1, 1, 1],
  [16, 9],
];
