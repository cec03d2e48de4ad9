import * as tf from '@tensorflow/tfjs';
import { encodeGridPng } from '@facegan/data';
import { randomNormalOnCpu } from './webgpu/index';

/** Images generated per generator call: bounds the memory of a large grid. */
const SAMPLE_BATCH = 64;

/** Standard normal latents, `count` × `latentDim`, the same for a seed on every backend (Philox, in JS). */
export function randomLatents(count: number, latentDim: number, seed: number): Float32Array {
  return randomNormalOnCpu(count * latentDim, seed);
}

/**
 * Spherical interpolation between two latent vectors (t = 0 gives `from`, 1 gives `to`): it keeps
 * the interpolated vectors at the norms a Gaussian latent has, where a straight line passes through
 * short, atypical vectors. Nearly parallel vectors fall back to a straight line.
 */
export function slerp(from: Float32Array, to: Float32Array, t: number): Float32Array {
  if (from.length !== to.length) throw new Error(`slerp of vectors of length ${from.length} and ${to.length}`);
  let dot = 0;
  let fromNorm = 0;
  let toNorm = 0;
  for (let i = 0; i < from.length; i++) {
    dot += from[i] * to[i];
    fromNorm += from[i] * from[i];
    toNorm += to[i] * to[i];
  }
  const cosine = Math.min(1, Math.max(-1, dot / Math.sqrt(fromNorm * toNorm)));
  const omega = Math.acos(cosine);
  const sine = Math.sin(omega);
  const [a, b] = sine < 1e-6 ? [1 - t, t] : [Math.sin((1 - t) * omega) / sine, Math.sin(t * omega) / sine];
  return from.map((value, i) => a * value + b * to[i]);
}

/**
 * Latents for an interpolation strip: `rows` pairs of random endpoints, each row `steps` slerp steps
 * from its first endpoint to its second (both included), row after row.
 */
export function interpolationLatents(latentDim: number, rows: number, steps: number, seed: number): Float32Array {
  if (steps < 2) throw new RangeError(`an interpolation needs at least 2 steps, got ${steps}`);
  const endpoints = randomLatents(2 * rows, latentDim, seed);
  const latents = new Float32Array(rows * steps * latentDim);
  for (let row = 0; row < rows; row++) {
    const from = endpoints.subarray(2 * row * latentDim, (2 * row + 1) * latentDim);
    const to = endpoints.subarray((2 * row + 1) * latentDim, (2 * row + 2) * latentDim);
    for (let step = 0; step < steps; step++) {
      latents.set(slerp(from, to, step / (steps - 1)), (row * steps + step) * latentDim);
    }
  }
  return latents;
}

/**
 * Runs the generator in inference mode (BN moving statistics, no dropout) on the latents (`count` × latentDim,
 * row by row), one batch at a time; resolves to the images, NHWC in [-1, 1].
 */
export async function generateImages(generator: tf.LayersModel, latents: Float32Array): Promise<{ images: Float32Array; count: number; resolution: number; channels: number }> {
  const latentDim = generator.inputs[0].shape[1] as number;
  const [, height, width, channels] = generator.outputs[0].shape as number[];
  if (height !== width) throw new Error(`the generator makes ${height}×${width} images: square ones expected`);
  const count = latents.length / latentDim;
  if (!Number.isInteger(count)) throw new Error(`${latents.length} latent values are not a whole number of ${latentDim}-vectors`);

  const imageLength = height * width * channels;
  const pixels = new Float32Array(count * imageLength);
  for (let first = 0; first < count; first += SAMPLE_BATCH) {
    const size = Math.min(SAMPLE_BATCH, count - first);
    const images = tf.tidy(() => {
      const batch = tf.tensor2d(latents.subarray(first * latentDim, (first + size) * latentDim), [size, latentDim]);
      return generator.predict(batch) as tf.Tensor;
    });
    try {
      pixels.set((await images.data()) as Float32Array, first * imageLength);
    } finally {
      images.dispose();
    }
  }
  return { images: pixels, count, resolution: height, channels };
}

/**
 * Runs the generator (inference mode: BN moving statistics, no dropout) on the latents, one batch at a
 * time, and lays the images out in a PNG grid of `rows` × `cols`, row by row.
 */
export async function sampleGridPng(
  generator: tf.LayersModel,
  latents: Float32Array,
  grid: { rows: number; cols: number },
): Promise<Buffer> {
  const { images, count, resolution, channels } = await generateImages(generator, latents);
  if (channels !== 1 && channels !== 3) throw new Error(`the generator makes images of ${channels} channels`);
  return encodeGridPng(images, { count, resolution, channels, rows: grid.rows, cols: grid.cols });
}
