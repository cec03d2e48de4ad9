import * as tf from '@tensorflow/tfjs';
import type { Dataset } from '@facegan/data';
import type { Settings } from '@facegan/spec';
import { seededRandom } from '@facegan/random';
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
    engine: { backend: 'cpu', checkpointEvery: 1 },
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
