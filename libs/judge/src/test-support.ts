/** Helpers for the judge's tests: synthetic image sets and the stock wasm backend. */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import type { ImageSet } from './images';
import { seededRandom } from '@facegan/random';
import { integerIn, normal } from './random';

/** The stock tfjs wasm backend: the judge needs no training kernels of the engine. */
export async function useWasmBackend(): Promise<void> {
  if (tf.getBackend() === 'wasm') return;
  if (!(await tf.setBackend('wasm'))) throw new Error('tfjs could not start the wasm backend');
  await tf.ready();
}

/**
 * `count` RGB "scenes" in [-1, 1]: a vertical gradient with a few filled discs and boxes of random colours, so that
 * sets drawn with different seeds share a distribution but no image.
 */
export function syntheticScenes(count: number, resolution: number, seed: number): ImageSet {
  const random = seededRandom(seed);
  const images = new Float32Array(count * resolution * resolution * 3);
  for (let image = 0; image < count; image++) {
    const base = image * resolution * resolution * 3;
    const top = [random(), random(), random()].map((v) => v * 2 - 1);
    const bottom = [random(), random(), random()].map((v) => v * 2 - 1);
    for (let y = 0; y < resolution; y++) {
      const t = y / (resolution - 1);
      for (let x = 0; x < resolution; x++) {
        for (let c = 0; c < 3; c++) images[base + (y * resolution + x) * 3 + c] = top[c] * (1 - t) + bottom[c] * t;
      }
    }
    const shapes = integerIn(random, 2, 5);
    for (let shape = 0; shape < shapes; shape++) {
      const colour = [random(), random(), random()].map((v) => v * 2 - 1);
      const cx = random() * resolution;
      const cy = random() * resolution;
      const radius = resolution * (0.1 + 0.25 * random());
      const disc = random() < 0.5;
      for (let y = 0; y < resolution; y++) {
        for (let x = 0; x < resolution; x++) {
          const inside = disc ? (x - cx) ** 2 + (y - cy) ** 2 < radius ** 2 : Math.abs(x - cx) < radius && Math.abs(y - cy) < radius * 0.6;
          if (inside) for (let c = 0; c < 3; c++) images[base + (y * resolution + x) * 3 + c] = colour[c];
        }
      }
    }
  }
  return { images, count, resolution, channels: 3 };
}

/** Uniform noise in [-1, 1]. */
export function noiseImages(count: number, resolution: number, seed: number, channels: 1 | 3 = 3): ImageSet {
  const random = seededRandom(seed);
  return { images: Float32Array.from({ length: count * resolution * resolution * channels }, () => random() * 2 - 1), count, resolution, channels };
}

/** Gaussian noise of standard deviation `sigma` added to every pixel, clamped to [-1, 1]. */
export function withNoise(set: ImageSet, sigma: number, seed: number): ImageSet {
  const draw = normal(seededRandom(seed));
  return { ...set, images: set.images.map((v) => Math.max(-1, Math.min(1, v + sigma * draw()))) };
}

/** A (2r+1)² box blur, edges clamped. */
export function boxBlur(set: ImageSet, radius: number): ImageSet {
  const { count, resolution: size, channels } = set;
  const images = new Float32Array(set.images.length);
  for (let image = 0; image < count; image++) {
    const base = image * size * size * channels;
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        for (let c = 0; c < channels; c++) {
          let sum = 0;
          let n = 0;
          for (let dy = -radius; dy <= radius; dy++) {
            for (let dx = -radius; dx <= radius; dx++) {
              const yy = Math.min(size - 1, Math.max(0, y + dy));
              const xx = Math.min(size - 1, Math.max(0, x + dx));
              sum += set.images[base + (yy * size + xx) * channels + c];
              n++;
            }
          }
          images[base + (y * size + x) * channels + c] = sum / n;
        }
      }
    }
  }
  return { ...set, images };
}

/** The same images in the reverse order. */
export function reversed(set: ImageSet): ImageSet {
  const length = set.resolution * set.resolution * set.channels;
  const images = new Float32Array(set.count * length);
  for (let i = 0; i < set.count; i++) images.set(set.images.subarray(i * length, (i + 1) * length), (set.count - 1 - i) * length);
  return { ...set, images };
}
