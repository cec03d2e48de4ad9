import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { loadDataset, type Dataset } from '@facegan/data';
import { DEFAULT_SETTINGS } from '@facegan/spec';
import { conv2dSame } from './conv';
import { checkImageSet, imageLength, pickImages, type ImageSet } from './images';
import { notFaces } from './not-faces';
import { mixSeed, sampleIndices, seededRandom } from '@facegan/random';
import { wilson, type Share } from './wilson';

/** The cartoon labels the classifier reads, each a yes/no question: male? glasses? a beard or moustache? */
export const CARTOON_ATTRIBUTES = ['male', 'glasses', 'facialHair'] as const;
export type CartoonAttribute = (typeof CARTOON_ATTRIBUTES)[number];
/**
 * Its outputs: the attributes, and whether the image is a cartoon face at all. Without that last one the attribute
 * heads answer confidently on anything: a generator's early noise came out "74% men".
 */
const OUTPUTS = [...CARTOON_ATTRIBUTES, 'face'] as const;
export type CartoonOutput = (typeof OUTPUTS)[number];

const FORMAT = 'facegan-cartoon-classifier';
/** Bump when the architecture or the training recipe changes: saved classifiers of another version are retrained. */
const VERSION = 1;

export interface CartoonClassifierInfo {
  resolution: number;
  /**
   * Held-out accuracy per attribute (share of faces it labels right), and of `face` on the held-out faces and as many
   * images that are not faces (see notFaces).
   */
  accuracy: Record<CartoonOutput, number>;
  trainImages: number;
  heldOutImages: number;
  epochs: number;
  seed: number;
  /** The cartoon universe's faces it saw: loadDataset's settings. */
  dataset: { size: number; seed: number };
  trainedAt: string;
  trainSeconds: number;
  /** tfjs backend it trained on. */
  backend: string;
}

export interface CartoonClassifier {
  info: CartoonClassifierInfo;
  /**
   * Per image, the probability that it is a cartoon face, and that it shows each attribute if it is one; images as
   * NHWC in [-1, 1] at info.resolution.
   */
  predict(images: ImageSet): Promise<Record<CartoonOutput, Float32Array>>;
  dispose(): void;
}

export interface TrainCartoonClassifierOptions {
  resolution: number;
  /** Folder of the cartoon render cache (loadDataset's cacheDir). */
  cacheDir: string;
  /** Cartoon faces it trains on (each step adds half a batch of images that are not faces). */
  trainImages?: number;
  heldOutImages?: number;
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  seed?: number;
  onEpoch?: (epoch: number, loss: number) => void;
}

const TRAINING_DEFAULTS = { trainImages: 2000, heldOutImages: 500, epochs: 12, batchSize: 32, learningRate: 2e-3, seed: 1 };

/** Filters per strided convolution: one more layer per doubling of the resolution, until the map is ≤ 8 px. */
function convolutionFilters(resolution: number): number[] {
  const filters: number[] = [];
  for (let side = resolution, width = 16; side > 8 || filters.length < 2; side = Math.ceil(side / 2), width = Math.min(width * 2, 64)) {
    filters.push(width);
  }
  return filters;
}

interface Weights {
  filters: tf.Variable<tf.Rank.R4>[];
  biases: tf.Variable<tf.Rank.R1>[];
  dense: tf.Variable<tf.Rank.R2>;
  denseBias: tf.Variable<tf.Rank.R1>;
}

function createWeights(resolution: number, seed: number): Weights {
  const filters: tf.Variable<tf.Rank.R4>[] = [];
  const biases: tf.Variable<tf.Rank.R1>[] = [];
  let channels = 3;
  let side = resolution;
  for (const [layer, width] of convolutionFilters(resolution).entries()) {
    // He initialisation for ReLU layers
    const fanIn = 3 * 3 * channels;
    filters.push(tf.variable(tf.randomNormal([3, 3, channels, width], 0, Math.sqrt(2 / fanIn), 'float32', mixSeed(seed, layer)) as tf.Tensor4D));
    biases.push(tf.variable(tf.zeros([width]) as tf.Tensor1D));
    channels = width;
    side = Math.ceil(side / 2);
  }
  const features = side * side * channels;
  const dense = tf.variable(tf.randomNormal([features, OUTPUTS.length], 0, Math.sqrt(1 / features), 'float32', mixSeed(seed, 99)) as tf.Tensor2D);
  const denseBias = tf.variable(tf.zeros([OUTPUTS.length]) as tf.Tensor1D);
  return { filters, biases, dense, denseBias };
}

/** Strided 3×3 convolutions with ReLU, then one linear layer: a logit per output. */
function logits(weights: Weights, images: tf.Tensor4D): tf.Tensor2D {
  let features = images;
  for (const [layer, filter] of weights.filters.entries()) {
    features = tf.relu(conv2dSame(features, filter, 2, layer > 0).add(weights.biases[layer])) as tf.Tensor4D;
  }
  return features.reshape([features.shape[0], -1]).matMul(weights.dense).add(weights.denseBias) as tf.Tensor2D;
}

/**
 * What the faces of a step look like: mirrored every other step (the labels do not change: the set doubles), and
 * blurred every third, as a generator's faces often are. Trained on sharp faces only, it read 100 cartoon faces (51%
 * men) as 69% men once blurred 5×5; with blurred steps, 58%.
 */
function augment(faces: tf.Tensor4D, step: number): tf.Tensor4D {
  const mirrored = step % 2 === 1 ? tf.reverse(faces, 2) : faces;
  return step % 3 === 2 ? tf.avgPool(mirrored, step % 2 === 1 ? 3 : 5, 1, 'same') : mirrored;
}

function allVariables(weights: Weights): tf.Variable[] {
  return [...weights.filters, ...weights.biases, weights.dense, weights.denseBias];
}

/** Names of allVariables' entries in the saved weights (tfjs's own variable names are unique per process, not stable). */
function variableNames(weights: Weights): string[] {
  return [
    ...weights.filters.map((_, layer) => `conv${layer}/kernel`),
    ...weights.biases.map((_, layer) => `conv${layer}/bias`),
    'dense/kernel',
    'dense/bias',
  ];
}

/** The weights behind each classifier, for saving (kept off the public interface). */
const weightsOf = new WeakMap<CartoonClassifier, Weights>();

/** Targets of cartoon faces: each attribute's label, and face = 1. */
function targetsOf(dataset: Dataset, indices: ArrayLike<number>): Float32Array {
  const targets = new Float32Array(indices.length * OUTPUTS.length);
  for (let i = 0; i < indices.length; i++) {
    const { labels } = dataset.items[indices[i]];
    const values = { male: labels.gender === 'male', glasses: labels.glasses === true, facialHair: labels.facialHair === true, face: true };
    OUTPUTS.forEach((output, k) => (targets[i * OUTPUTS.length + k] = values[output] ? 1 : 0));
  }
  return targets;
}

function batchOf(set: ImageSet, start: number, end: number): tf.Tensor4D {
  const length = imageLength(set);
  return tf.tensor4d(set.images.slice(start * length, end * length), [end - start, set.resolution, set.resolution, set.channels]);
}

function classifierFrom(weights: Weights, info: CartoonClassifierInfo): CartoonClassifier {
  const classifier: CartoonClassifier = {
    info,
    async predict(images) {
      checkImageSet(images, 'images');
      if (images.resolution !== info.resolution || images.channels !== 3) {
        throw new RangeError(`the cartoon classifier reads ${info.resolution} px RGB images, got ${images.resolution} px × ${images.channels}`);
      }
      const result = Object.fromEntries(OUTPUTS.map((output) => [output, new Float32Array(images.count)])) as Record<CartoonOutput, Float32Array>;
      const batch = 128;
      for (let start = 0; start < images.count; start += batch) {
        const end = Math.min(images.count, start + batch);
        const probabilities = tf.tidy(() => tf.sigmoid(logits(weights, batchOf(images, start, end))));
        const values = (await probabilities.data()) as Float32Array;
        probabilities.dispose();
        for (let i = 0; i < end - start; i++) {
          OUTPUTS.forEach((output, k) => (result[output][start + i] = values[i * OUTPUTS.length + k]));
        }
      }
      return result;
    },
    dispose() {
      for (const variable of allVariables(weights)) variable.dispose();
    },
  };
  weightsOf.set(classifier, weights);
  return classifier;
}

/**
 * Trains the attribute classifier on cartoon faces rendered now (loadDataset, source cartoon): the first
 * `trainImages` of a seeded subset train it, the next `heldOutImages` measure it. Runs on the current tfjs backend.
 */
export async function trainCartoonClassifier(options: TrainCartoonClassifierOptions): Promise<CartoonClassifier> {
  const settings = { ...TRAINING_DEFAULTS, ...options };
  const { resolution, trainImages, heldOutImages, epochs, batchSize, learningRate, seed } = settings;
  const started = performance.now();
  // a subset of its own: not the one that specs with dataset.seed 1 train their generators on
  const datasetSettings = { size: trainImages + heldOutImages, seed: mixSeed(seed, 0x7ab1e) };
  const dataset = await loadDataset(
    { ...DEFAULT_SETTINGS.dataset, source: 'cartoon', where: {}, channels: 3, flip: false, ...datasetSettings },
    { resolution, cacheDir: options.cacheDir },
  );
  const train: ImageSet = { images: dataset.images.subarray(0, trainImages * imageLength(dataset)), count: trainImages, resolution, channels: 3 };
  const trainTargets = targetsOf(dataset, Array.from({ length: trainImages }, (_, i) => i));

  const weights = createWeights(resolution, seed);
  const optimizer = tf.train.adam(learningRate);
  const negativesPerStep = Math.ceil(batchSize / 2);
  const randomNegatives = seededRandom(mixSeed(seed, 0x0fface));
  // images that are not faces count for the face output only: their attribute targets are masked out
  const negativeTargets = new Float32Array(negativesPerStep * OUTPUTS.length);
  const lossWeights = tf.tensor2d(
    [...Array.from({ length: batchSize }, () => OUTPUTS.map(() => 1)), ...Array.from({ length: negativesPerStep }, () => OUTPUTS.map((o) => (o === 'face' ? 1 : 0)))],
  );
  try {
    for (let epoch = 1; epoch <= epochs; epoch++) {
      const order = sampleIndices(trainImages, trainImages, mixSeed(seed, 1000 + epoch));
      let lossSum = 0;
      let steps = 0;
      for (let start = 0; start + batchSize <= trainImages; start += batchSize, steps++) {
        const indices = order.subarray(start, start + batchSize);
        const negatives = notFaces(negativesPerStep, train, randomNegatives);
        const loss = tf.tidy(() => {
          const faces = tf.tensor4d(pickImages(train, indices).images, [batchSize, resolution, resolution, 3]);
          const others = tf.tensor4d(negatives, [negativesPerStep, resolution, resolution, 3]);
          const batch = tf.concat([augment(faces, steps), others]) as tf.Tensor4D;
          const targets = tf.concat([
            tf.tensor2d(gatherRows(trainTargets, indices, OUTPUTS.length), [batchSize, OUTPUTS.length]),
            tf.tensor2d(negativeTargets, [negativesPerStep, OUTPUTS.length]),
          ]);
          return optimizer.minimize(() => tf.losses.sigmoidCrossEntropy(targets, logits(weights, batch), lossWeights) as tf.Scalar, true, allVariables(weights)) as tf.Scalar;
        });
        lossSum += (await loss.data())[0];
        loss.dispose();
        // training takes seconds per epoch: let timers and I/O run
        await new Promise((resolve) => setImmediate(resolve));
      }
      options.onEpoch?.(epoch, lossSum / steps);
    }
  } catch (error) {
    for (const variable of allVariables(weights)) variable.dispose();
    throw error;
  } finally {
    optimizer.dispose();
    lossWeights.dispose();
  }

  const heldOut: ImageSet = {
    images: dataset.images.subarray(trainImages * imageLength(dataset)),
    count: heldOutImages,
    resolution,
    channels: 3,
  };
  const heldOutTargets = targetsOf(dataset, Array.from({ length: heldOutImages }, (_, i) => trainImages + i));
  const info: CartoonClassifierInfo = {
    resolution,
    accuracy: { male: 0, glasses: 0, facialHair: 0, face: 0 },
    trainImages,
    heldOutImages,
    epochs,
    seed,
    dataset: datasetSettings,
    trainedAt: new Date().toISOString(),
    trainSeconds: 0,
    backend: tf.getBackend(),
  };
  const classifier = classifierFrom(weights, info);
  const predictions = await classifier.predict(heldOut);
  CARTOON_ATTRIBUTES.forEach((attribute) => {
    const k = OUTPUTS.indexOf(attribute);
    let right = 0;
    for (let i = 0; i < heldOutImages; i++) {
      if ((predictions[attribute][i] > 0.5 ? 1 : 0) === heldOutTargets[i * OUTPUTS.length + k]) right++;
    }
    info.accuracy[attribute] = right / heldOutImages;
  });
  // the face output: the held-out faces, and as many fresh images that are not faces (tiles of held-out faces)
  const others = notFaces(heldOutImages, heldOut, seededRandom(mixSeed(seed, 0xba5e)));
  const otherPredictions = await classifier.predict({ images: others, count: heldOutImages, resolution, channels: 3 });
  const facesRight = predictions.face.reduce((sum, p) => sum + (p > 0.5 ? 1 : 0), 0);
  const othersRight = otherPredictions.face.reduce((sum, p) => sum + (p <= 0.5 ? 1 : 0), 0);
  info.accuracy.face = (facesRight + othersRight) / (2 * heldOutImages);
  info.trainSeconds = (performance.now() - started) / 1000;
  return classifier;
}

function gatherRows(values: Float32Array, indices: ArrayLike<number>, width: number): Float32Array {
  const out = new Float32Array(indices.length * width);
  for (let i = 0; i < indices.length; i++) out.set(values.subarray(indices[i] * width, (indices[i] + 1) * width), i * width);
  return out;
}

/** Saved form: `classifier.json` (what it is, how well it does, the weights' names and shapes) and `weights.bin`. */
interface SavedClassifier {
  format: typeof FORMAT;
  version: number;
  info: CartoonClassifierInfo;
  weights: tf.io.WeightsManifestEntry[];
}

/** Writes the classifier into `folder` (created if needed), atomically: a reader never sees half a classifier. */
export async function saveCartoonClassifier(classifier: CartoonClassifier, folder: string): Promise<void> {
  const weights = weightsOf.get(classifier);
  if (!weights) throw new Error('not a classifier made by trainCartoonClassifier or loadCartoonClassifier');
  const names = variableNames(weights);
  const tensors = allVariables(weights).map((variable, i) => ({ name: names[i], tensor: variable as tf.Tensor }));
  const { data, specs } = await tf.io.encodeWeights(tensors);
  const saved: SavedClassifier = { format: FORMAT, version: VERSION, info: classifier.info, weights: specs };
  await mkdir(folder, { recursive: true });
  const temporary = `${folder}/.writing-${process.pid}`;
  await writeFile(`${temporary}.bin`, new Uint8Array(data));
  await writeFile(`${temporary}.json`, `${JSON.stringify(saved, null, 2)}\n`);
  await rename(`${temporary}.bin`, join(folder, 'weights.bin'));
  await rename(`${temporary}.json`, join(folder, 'classifier.json'));
}

/** Reads a classifier saved by saveCartoonClassifier; undefined when there is none, or one of an older version. */
export async function loadCartoonClassifier(folder: string): Promise<CartoonClassifier | undefined> {
  let saved: SavedClassifier;
  let data: Buffer;
  try {
    saved = JSON.parse(await readFile(join(folder, 'classifier.json'), 'utf8')) as SavedClassifier;
    data = await readFile(join(folder, 'weights.bin'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  if (saved.format !== FORMAT || saved.version !== VERSION) return undefined;
  const tensors = tf.io.decodeWeights(new Uint8Array(data).buffer, saved.weights);
  const weights = createWeights(saved.info.resolution, saved.info.seed);
  const names = variableNames(weights);
  try {
    allVariables(weights).forEach((variable, i) => {
      const tensor = tensors[names[i]];
      if (!tensor || tensor.shape.join() !== variable.shape.join()) throw new Error(`${folder}: weights.bin does not fit the classifier (${names[i]})`);
      variable.assign(tensor);
    });
  } catch (error) {
    for (const variable of allVariables(weights)) variable.dispose();
    throw error;
  } finally {
    tf.dispose(Object.values(tensors));
  }
  return classifierFrom(weights, saved.info);
}

/**
 * The classifier for this resolution from `folder` (e.g. runs/judge/cartoon-32), trained and saved there first when
 * there is none yet: sweeps train it once and reuse it.
 */
export async function loadOrTrainCartoonClassifier(folder: string, options: TrainCartoonClassifierOptions): Promise<CartoonClassifier> {
  const saved = await loadCartoonClassifier(folder);
  if (saved && saved.info.resolution === options.resolution) return saved;
  saved?.dispose();
  const trained = await trainCartoonClassifier(options);
  await saveCartoonClassifier(trained, folder);
  return trained;
}

export interface CartoonShares {
  /** Images judged. */
  images: number;
  /** Share of images the classifier takes for cartoon faces (probability > 0.5). */
  faceRate: Share & { count: number };
  /**
   * Per attribute, among the images taken for faces: how many show it (probability > 0.5), and that share with its
   * 95% Wilson interval (NaN share, interval [0, 1] when no image is a face).
   */
  attributes: Record<CartoonAttribute, Share & { count: number; faces: number }>;
}

/** Shares of generated cartoons that are faces, and among those that are male, wear glasses, have facial hair. */
export async function classifyCartoons(classifier: CartoonClassifier, images: ImageSet): Promise<CartoonShares> {
  const probabilities = await classifier.predict(images);
  const faces = Array.from(probabilities.face.keys()).filter((i) => probabilities.face[i] > 0.5);
  const attributes = Object.fromEntries(
    CARTOON_ATTRIBUTES.map((attribute) => {
      const count = faces.filter((i) => probabilities[attribute][i] > 0.5).length;
      return [attribute, { ...wilson(count, faces.length), count, faces: faces.length }];
    }),
  ) as CartoonShares['attributes'];
  return { images: images.count, faceRate: { ...wilson(faces.length, images.count), count: faces.length }, attributes };
}
