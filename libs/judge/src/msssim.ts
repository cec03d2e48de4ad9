import { checkImageSet, imageAt, type ImageSet } from './images';
import { mixSeed, sampleIndices } from '@facegan/random';

/** Wang, Simoncelli & Bovik (2003): weights of the 5 scales, finest first. */
const SCALE_WEIGHTS = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333];
const WINDOW = 11;
const SIGMA = 1.5;
/** Constants for values in [0, 1] (L = 1): images in [-1, 1] are mapped there first, as tf.image.ssim would see them. */
const C1 = 0.01 ** 2;
const C2 = 0.03 ** 2;

const GAUSSIAN = (() => {
  const taps = Array.from({ length: WINDOW }, (_, i) => Math.exp(-((i - (WINDOW - 1) / 2) ** 2) / (2 * SIGMA * SIGMA)));
  const sum = taps.reduce((a, b) => a + b, 0);
  return Float64Array.from(taps, (tap) => tap / sum);
})();

/**
 * How many scales MS-SSIM can use at this size: the 11×11 window must fit the coarsest scale, each scale half the
 * previous. The standard 5 need 176 px; our 32 px images get 2, 64 px 3, 96 and 128 px 4. With fewer than 5, the
 * first weights of the standard 5 are used, rescaled to sum to 1.
 */
export function msSsimScales(resolution: number): number {
  let scales = 0;
  for (let side = resolution; side >= WINDOW && scales < SCALE_WEIGHTS.length; side = Math.floor(side / 2)) scales++;
  return scales;
}

function scaleWeights(scales: number): number[] {
  const weights = SCALE_WEIGHTS.slice(0, scales);
  const sum = weights.reduce((a, b) => a + b, 0);
  return weights.map((weight) => weight / sum);
}

/** One image's planes at one scale: pixels (channel-major, in [0, 1]) and their local means and mean squares. */
interface Scale {
  side: number;
  pixels: Float64Array[];
  mean: Float64Array[];
  meanSquare: Float64Array[];
}

/** Valid 11×11 Gaussian filter of a side×side plane (as tf.image.ssim's 'VALID' padding). */
function gaussianFilter(plane: Float64Array, side: number): Float64Array {
  const out = side - WINDOW + 1;
  const rows = new Float64Array(side * out);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < out; x++) {
      let sum = 0;
      for (let k = 0; k < WINDOW; k++) sum += GAUSSIAN[k] * plane[y * side + x + k];
      rows[y * out + x] = sum;
    }
  }
  const result = new Float64Array(out * out);
  for (let y = 0; y < out; y++) {
    for (let x = 0; x < out; x++) {
      let sum = 0;
      for (let k = 0; k < WINDOW; k++) sum += GAUSSIAN[k] * rows[(y + k) * out + x];
      result[y * out + x] = sum;
    }
  }
  return result;
}

/** 2×2 average pooling (the downsampling between scales). */
function halve(plane: Float64Array, side: number): Float64Array {
  const half = Math.floor(side / 2);
  const result = new Float64Array(half * half);
  for (let y = 0; y < half; y++) {
    for (let x = 0; x < half; x++) {
      const top = 2 * y * side + 2 * x;
      result[y * half + x] = (plane[top] + plane[top + 1] + plane[top + side] + plane[top + side + 1]) / 4;
    }
  }
  return result;
}

/** Everything about one image that does not depend on the image it is compared with, per scale. */
function prepare(image: Float32Array, resolution: number, channels: number, scales: number): Scale[] {
  let planes: Float64Array[] = Array.from({ length: channels }, (_, c) => {
    const plane = new Float64Array(resolution * resolution);
    for (let p = 0; p < plane.length; p++) plane[p] = (image[p * channels + c] + 1) / 2;
    return plane;
  });
  let side = resolution;
  const result: Scale[] = [];
  for (let scale = 0; scale < scales; scale++) {
    if (scale > 0) {
      planes = planes.map((plane) => halve(plane, side));
      side = Math.floor(side / 2);
    }
    result.push({
      side,
      pixels: planes,
      mean: planes.map((plane) => gaussianFilter(plane, side)),
      meanSquare: planes.map((plane) => gaussianFilter(plane.map((v) => v * v), side)),
    });
  }
  return result;
}

/** MS-SSIM of two prepared images: per channel Π cs_j^w_j × ssim_M^w_M (negatives clipped to 0), then the channel mean. */
function compare(a: Scale[], b: Scale[], weights: number[]): number {
  const channels = a[0].pixels.length;
  let total = 0;
  for (let c = 0; c < channels; c++) {
    let product = 1;
    for (const [scale, weight] of weights.entries()) {
      const x = a[scale];
      const y = b[scale];
      const cross = gaussianFilter(x.pixels[c].map((v, i) => v * y.pixels[c][i]), x.side);
      const last = scale === weights.length - 1;
      let sum = 0;
      for (let i = 0; i < cross.length; i++) {
        const meanX = x.mean[c][i];
        const meanY = y.mean[c][i];
        const varianceX = x.meanSquare[c][i] - meanX * meanX;
        const varianceY = y.meanSquare[c][i] - meanY * meanY;
        const covariance = cross[i] - meanX * meanY;
        const contrastStructure = (2 * covariance + C2) / (varianceX + varianceY + C2);
        sum += last ? ((2 * meanX * meanY + C1) / (meanX * meanX + meanY * meanY + C1)) * contrastStructure : contrastStructure;
      }
      product *= Math.max(0, sum / cross.length) ** weight;
    }
    total += product;
  }
  return total / channels;
}

function scalesFor(resolution: number): number {
  const scales = msSsimScales(resolution);
  if (scales === 0) throw new RangeError(`MS-SSIM needs images of at least ${WINDOW} px, got ${resolution}`);
  return scales;
}

/** MS-SSIM of two images (NHWC values in [-1, 1]): 1 for identical images, lower the less alike. */
export function msSsim(a: Float32Array, b: Float32Array, resolution: number, channels: 1 | 3): number {
  const scales = scalesFor(resolution);
  return compare(prepare(a, resolution, channels, scales), prepare(b, resolution, channels, scales), scaleWeights(scales));
}

export interface PairwiseMsSsim {
  /** Mean MS-SSIM over the pairs: near 1, the images look alike (mode collapse); real sets sit well below. */
  mean: number;
  pairs: number;
  /** How many scales the image size allowed (see msSsimScales). */
  scales: number;
}

/**
 * Mean MS-SSIM of `pairs` random pairs of different images of the set (seeded), the diversity measure of Odena et al.
 * (2017): compare a generator's value with its training set's; well above it means the samples look alike.
 * Pairs are consecutive images of seeded shuffles (each image at most once per shuffle), so nothing is kept between
 * pairs: memory stays flat at any set size.
 */
export function meanPairwiseMsSsim(set: ImageSet, options: { pairs?: number; seed?: number } = {}): PairwiseMsSsim {
  checkImageSet(set, 'images');
  if (set.count < 2) throw new RangeError(`pairs need at least 2 images, got ${set.count}`);
  const pairs = options.pairs ?? 256;
  const scales = scalesFor(set.resolution);
  const weights = scaleWeights(scales);
  const seed = options.seed ?? 1;
  const pairsPerShuffle = Math.floor(set.count / 2);
  let sum = 0;
  for (let done = 0, shuffle = 0; done < pairs; shuffle++) {
    const order = sampleIndices(set.count, set.count, mixSeed(seed, shuffle));
    for (let pair = 0; pair < pairsPerShuffle && done < pairs; pair++, done++) {
      const first = prepare(imageAt(set, order[2 * pair]), set.resolution, set.channels, scales);
      const second = prepare(imageAt(set, order[2 * pair + 1]), set.resolution, set.channels, scales);
      sum += compare(first, second, weights);
    }
  }
  return { mean: sum / pairs, pairs, scales };
}
