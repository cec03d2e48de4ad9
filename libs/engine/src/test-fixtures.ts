import type { Dataset } from '@facegan/data';
import type { Settings } from '@facegan/spec';
import { seededRandom } from '@facegan/random';

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
