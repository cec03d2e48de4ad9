import * as tf from '@tensorflow/tfjs';
import { checkImageSet, imageAt, imageLength, type ImageSet } from './images';
import { mixSeed, seededRandom } from '@facegan/random';
import { hashFloats, integerIn, normal } from './random';
import { FloatRadixSorter } from './sort';

/** The settings of Karras et al. 2017 (ProGAN), appendix D; change them only to make tests small. */
export interface SwdOptions {
  seed?: number;
  /** Random neighbourhoods per image per level (128). */
  patchesPerImage?: number;
  /** Side of a neighbourhood (7). */
  patchSize?: number;
  /** Random directions per repeat (128) and repeats (4). */
  directionsPerRepeat?: number;
  repeats?: number;
  /** The pyramid stops before its levels get smaller than this (16 px). */
  minResolution?: number;
}

export interface SwdResult {
  /** One distance (×1e3) per pyramid level, finest first: `resolution` is the level's side in pixels. */
  levels: Array<{ resolution: number; distance: number }>;
  /** Mean over the levels. */
  mean: number;
}

const DEFAULTS: Required<SwdOptions> = { seed: 1, patchesPerImage: 128, patchSize: 7, directionsPerRepeat: 128, repeats: 4, minResolution: 16 };

/** Streams of the seed: patch positions and projection directions are drawn independently. */
const STREAM = { patches: 1, directions: 2 } as const;

/**
 * Sliced Wasserstein distance between two equally large sets of images, per level of their Laplacian pyramids
 * (ProGAN's metric): 7×7 neighbourhoods sampled from every image at every level are normalised per channel within
 * their set, projected on random unit directions, and the sorted projections of the two sets compared; the mean
 * absolute difference, ×1e3, is the level's distance. Lower is better; identical sets give 0.
 *
 * Patch positions follow each image's pixels and the seed (not its place in the set), so the result does not depend
 * on the order of the images. Projections run as tfjs ops on the current backend; the rest is plain TypeScript.
 */
export async function slicedWassersteinDistance(real: ImageSet, fake: ImageSet, options: SwdOptions = {}): Promise<SwdResult> {
  const settings = { ...DEFAULTS, ...options };
  checkImageSet(real, 'real');
  checkImageSet(fake, 'fake');
  if (real.count !== fake.count) throw new RangeError(`SWD compares equally large sets: ${real.count} real against ${fake.count} fake`);
  if (real.resolution !== fake.resolution || real.channels !== fake.channels) {
    throw new RangeError(
      `SWD compares images of one shape: real ${real.resolution} px × ${real.channels}, fake ${fake.resolution} px × ${fake.channels}`,
    );
  }
  if (real.count === 0) throw new RangeError('SWD needs at least one image per set');
  const resolutions = pyramidResolutions(real.resolution, settings.minResolution);
  if (resolutions.length === 0 || resolutions.at(-1)! < settings.patchSize) {
    throw new RangeError(`images of ${real.resolution} px are too small for ${settings.patchSize} px patches at ≥ ${settings.minResolution} px`);
  }

  const realPyramid = laplacianPyramid(real, resolutions.length);
  const fakePyramid = laplacianPyramid(fake, resolutions.length);
  const realSeeds = imageSeeds(real);
  const fakeSeeds = imageSeeds(fake);
  const sorter = new FloatRadixSorter();
  const levels: SwdResult['levels'] = [];
  for (const [level, resolution] of resolutions.entries()) {
    const realDescriptors = descriptors(realPyramid[level], resolution, real.channels, realSeeds, level, settings);
    const fakeDescriptors = descriptors(fakePyramid[level], resolution, real.channels, fakeSeeds, level, settings);
    let sum = 0;
    for (let repeat = 0; repeat < settings.repeats; repeat++) {
      const directions = randomDirections(realDescriptors.width, settings.directionsPerRepeat, mixSeed(settings.seed, STREAM.directions, level, repeat));
      const realProjections = await sortedProjections(realDescriptors, directions, settings.directionsPerRepeat, sorter);
      const fakeProjections = await sortedProjections(fakeDescriptors, directions, settings.directionsPerRepeat, sorter);
      sum += meanAbsoluteDifference(realProjections, fakeProjections);
    }
    levels.push({ resolution, distance: (sum / settings.repeats) * 1e3 });
  }
  return { levels, mean: levels.reduce((total, level) => total + level.distance, 0) / levels.length };
}

/** Sides of the pyramid's levels: the full size, halved while it stays ≥ minResolution (32 → 32, 16; 96 → 96, 48, 24). */
export function pyramidResolutions(resolution: number, minResolution = DEFAULTS.minResolution): number[] {
  const sides: number[] = [];
  for (let side = resolution; side >= minResolution; side /= 2) {
    sides.push(side);
    if (side % 2 !== 0) break;
  }
  return sides;
}

/** 1-D binomial weights; the 5×5 filter of ProGAN (and cv2.pyrDown) is their outer product, /256. */
const BINOMIAL = [1 / 16, 4 / 16, 6 / 16, 4 / 16, 1 / 16];

/** scipy.ndimage's 'mirror' edge mode (d c b | a b c d | c b a), which ProGAN's pyramid uses. */
function mirror(index: number, size: number): number {
  if (index < 0) return -index;
  if (index >= size) return 2 * (size - 1) - index;
  return index;
}

/**
 * Separable 5-tap binomial filter of NHWC images, sampled every `step` pixels in both directions (step 2 is
 * pyrDown's blur-then-decimate), times `gain` per direction.
 */
function binomialFilter(images: Float32Array, count: number, size: number, channels: number, step: number, gain: number): Float32Array {
  const out = size / step;
  const rowPass = new Float32Array(size * out * channels);
  const result = new Float32Array(count * out * out * channels);
  for (let image = 0; image < count; image++) {
    const base = image * size * size * channels;
    for (let y = 0; y < size; y++) {
      for (let ox = 0; ox < out; ox++) {
        const x = ox * step;
        for (let c = 0; c < channels; c++) {
          let sum = 0;
          for (let k = 0; k < 5; k++) sum += BINOMIAL[k] * images[base + (y * size + mirror(x + k - 2, size)) * channels + c];
          rowPass[(y * out + ox) * channels + c] = sum * gain;
        }
      }
    }
    const target = image * out * out * channels;
    for (let oy = 0; oy < out; oy++) {
      const y = oy * step;
      for (let ox = 0; ox < out; ox++) {
        for (let c = 0; c < channels; c++) {
          let sum = 0;
          for (let k = 0; k < 5; k++) sum += BINOMIAL[k] * rowPass[(mirror(y + k - 2, size) * out + ox) * channels + c];
          result[target + (oy * out + ox) * channels + c] = sum * gain;
        }
      }
    }
  }
  return result;
}

/** cv2.pyrDown: blur, keep every other pixel. */
export function pyramidDown(images: Float32Array, count: number, size: number, channels: number): Float32Array {
  return binomialFilter(images, count, size, channels, 2, 1);
}

/** cv2.pyrUp: put the pixels on the even positions of a twice-as-large zero image, blur, ×4 to keep the brightness. */
export function pyramidUp(images: Float32Array, count: number, size: number, channels: number): Float32Array {
  const large = size * 2;
  const spread = new Float32Array(count * large * large * channels);
  for (let image = 0; image < count; image++) {
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        for (let c = 0; c < channels; c++) {
          spread[((image * large + 2 * y) * large + 2 * x) * channels + c] = images[((image * size + y) * size + x) * channels + c];
        }
      }
    }
  }
  return binomialFilter(spread, count, large, channels, 1, 2);
}

/** Band-pass levels, finest first, and the low-pass remainder last (ProGAN's generate_laplacian_pyramid). */
export function laplacianPyramid(set: ImageSet, levels: number): Float32Array[] {
  const { count, channels } = set;
  const pyramid: Float32Array[] = [set.images.slice(0, count * imageLength(set))];
  let size = set.resolution;
  for (let level = 1; level < levels; level++) {
    const smaller = pyramidDown(pyramid[level - 1], count, size, channels);
    const upsampled = pyramidUp(smaller, count, size / 2, channels);
    const band = pyramid[level - 1];
    for (let i = 0; i < band.length; i++) band[i] -= upsampled[i];
    pyramid.push(smaller);
    size /= 2;
  }
  return pyramid;
}

function imageSeeds(set: ImageSet): Uint32Array {
  return Uint32Array.from({ length: set.count }, (_, index) => hashFloats(imageAt(set, index)));
}

interface Descriptors {
  values: Float32Array;
  rows: number;
  width: number;
}

/**
 * `patchesPerImage` neighbourhoods of `patchSize`² pixels per image, at positions drawn from the image's own seed,
 * flattened (y, x, channel) and normalised per channel over the whole set (ProGAN's finalize_descriptors).
 */
function descriptors(
  level: Float32Array,
  size: number,
  channels: number,
  seeds: Uint32Array,
  levelIndex: number,
  settings: Required<SwdOptions>,
): Descriptors {
  const { patchesPerImage, patchSize, seed } = settings;
  const half = Math.floor(patchSize / 2);
  const width = patchSize * patchSize * channels;
  const rows = seeds.length * patchesPerImage;
  const values = new Float32Array(rows * width);
  let row = 0;
  for (const [image, imageSeed] of seeds.entries()) {
    const random = seededRandom(mixSeed(seed, STREAM.patches, levelIndex, imageSeed));
    const base = image * size * size * channels;
    for (let patch = 0; patch < patchesPerImage; patch++, row++) {
      // centres as np.random.randint(H, S - H): the whole patch lies inside the image
      const top = integerIn(random, half, size - half) - half;
      const left = integerIn(random, half, size - half) - half;
      let target = row * width;
      for (let dy = 0; dy < patchSize; dy++) {
        const start = base + ((top + dy) * size + left) * channels;
        values.set(level.subarray(start, start + patchSize * channels), target);
        target += patchSize * channels;
      }
    }
  }
  normalisePerChannel(values, channels);
  return { values, rows, width };
}

function normalisePerChannel(values: Float32Array, channels: number): void {
  for (let c = 0; c < channels; c++) {
    let sum = 0;
    let count = 0;
    for (let i = c; i < values.length; i += channels, count++) sum += values[i];
    const mean = sum / count;
    let squares = 0;
    for (let i = c; i < values.length; i += channels) squares += (values[i] - mean) ** 2;
    // a constant channel (a flat set) has no spread: centre it and leave it at 0
    const std = Math.sqrt(squares / count) || 1;
    for (let i = c; i < values.length; i += channels) values[i] = (values[i] - mean) / std;
  }
}

/** Random unit directions as a [width, count] matrix (np.random.randn, columns normalised). */
function randomDirections(width: number, count: number, seed: number): Float32Array {
  const draw = normal(seededRandom(seed));
  const directions = Float32Array.from({ length: width * count }, draw);
  for (let column = 0; column < count; column++) {
    let squares = 0;
    for (let row = 0; row < width; row++) squares += directions[row * count + column] ** 2;
    const norm = Math.sqrt(squares);
    for (let row = 0; row < width; row++) directions[row * count + column] /= norm;
  }
  return directions;
}

/** Projections of every descriptor on every direction, one sorted array per direction. */
async function sortedProjections(descriptors: Descriptors, directions: Float32Array, count: number, sorter: FloatRadixSorter): Promise<Float32Array[]> {
  const { rows, width } = descriptors;
  // a 1×1 convolution is the matrix product [rows, width] × [width, count]; on wasm (XNNPACK) it runs ~2× faster than matMul
  const projected = tf.tidy(() =>
    tf.conv2d(tf.tensor4d(descriptors.values, [1, 1, rows, width]), tf.tensor4d(directions, [1, 1, width, count]), 1, 'valid'),
  );
  let values: Float32Array;
  try {
    values = (await projected.data()) as Float32Array;
  } finally {
    projected.dispose();
  }
  const columns = Array.from({ length: count }, () => new Float32Array(rows));
  for (let row = 0; row < rows; row++) {
    const offset = row * count;
    for (let column = 0; column < count; column++) columns[column][row] = values[offset + column];
  }
  for (const column of columns) sorter.sort(column);
  return columns;
}

function meanAbsoluteDifference(a: Float32Array[], b: Float32Array[]): number {
  let sum = 0;
  let count = 0;
  for (const [index, column] of a.entries()) {
    const other = b[index];
    for (let i = 0; i < column.length; i++) sum += Math.abs(column[i] - other[i]);
    count += column.length;
  }
  return sum / count;
}
