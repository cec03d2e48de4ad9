/**
 * The fully resolved settings of one variant: every field present, defaults filled in.
 * A variant's id is a hash of this object (canonical JSON), so adding a field changes ids:
 * only add fields with care.
 */
export interface Settings {
  dataset: DatasetSettings;
  model: ModelSettings;
  train: TrainSettings;
  engine: EngineSettings;
  judge: JudgeSettings;
}

export type DatasetSource = 'cartoon' | 'utkface' | 'celeba' | 'folder';

/** Inclusive bounds on a numeric label, e.g. `age: { min: 18, max: 60 }`. */
export interface LabelRange {
  min?: number;
  max?: number;
}

export type LabelValue = string | number | boolean;

/**
 * Only images whose labels match every key (AND): a value matches itself, a range matches the numbers inside it.
 * Which labels exist depends on the source (see SOURCE_LABELS); a `folder` source has the columns of its labels.csv.
 */
export interface LabelFilter {
  gender?: 'male' | 'female';
  glasses?: boolean;
  facialHair?: boolean;
  hat?: boolean;
  skinTone?: 'light' | 'medium' | 'dark';
  hairColor?: 'black' | 'brown' | 'blonde' | 'red' | 'gray';
  background?: 'plain' | 'varied';
  age?: number | LabelRange;
  race?: 'white' | 'black' | 'asian' | 'indian' | 'others';
  partition?: 'train' | 'valid' | 'test';
  /** CelebA's attribute names (`Eyeglasses`, `Smiling`, …) and a folder's own labels. */
  [label: string]: LabelValue | LabelRange | undefined;
}

/** One part of a composed training set: the images matching `where` (and the dataset's own `where`), `count` of them or `share` of `size`. */
export interface CompositionPart {
  where: LabelFilter;
  share?: number;
  count?: number;
}

export interface Composition {
  parts: CompositionPart[];
}

export interface DatasetSettings {
  /** Where the images come from; the embedded default is `cartoon` (drawn with facesjs). */
  source: DatasetSource;
  /** The source's folder (every source but cartoon); a relative path is relative to the spec file's folder. */
  path?: string;
  /** Exact number of training images (before flipping). */
  size: number;
  /** Only images whose labels match every key (AND). Empty object: no filter. */
  where: LabelFilter;
  /** The training set as parts with their own filters and counts or shares, adding up to `size`. */
  compose?: Composition;
  /** Seed of the subset choice (the images themselves are fixed). */
  seed: number;
  /** 3: RGB; 1: grayscale. */
  channels: 1 | 3;
  /** Add a mirrored copy of every image (the model then sees 2 × size images an epoch). */
  flip: boolean;
  /** `center`: the largest centred square; `face`: a square around the face box the source gives. */
  crop: 'center' | 'face';
}

export interface ModelSettings {
  /** Square image size in pixels: a multiple of 32. */
  resolution: number;
  /** Multiplies every filter count of both networks (1 = the seed model). */
  width: number;
  /** Dropout rate of the discriminator. */
  dropout: number;
  /** Size of the generator's latent vector. */
  latentDim: number;
}

export interface TrainSettings {
  epochs: number;
  batchSize: number;
  learningRate: number;
  beta1: number;
  seed: number;
  /** Log the step metrics every N steps (epoch metrics are always logged). */
  logEvery: number;
}

export type BackendName = 'auto' | 'tensorflow' | 'webgpu' | 'wasm' | 'cpu';

export interface EngineSettings {
  backend: BackendName;
  /** Save a checkpoint (weights, optimizer state, step count) every N epochs, and after the last one. */
  checkpointEvery: number;
  /** wasm: XNNPACK threads, or 'auto' (one per CPU idle at the start). */
  threads: ThreadCount;
}

export type ThreadCount = number | 'auto';

/** What the judge (libs/judge) measures during training, and when. Like the engine, not part of a variant's id. */
export interface JudgeSettings {
  /** Judge the generator's samples every N epochs, and after the last. */
  every: number;
  /** Generated images judged each time (the same latents at every judged epoch); at least 8. */
  samples: number;
  /** Off: no judge metrics (SWD, diversity, face and attribute shares) are computed. */
  enabled: boolean;
}

export const DEFAULT_SETTINGS: Settings = {
  dataset: { source: 'cartoon', size: 1200, where: {}, seed: 1, channels: 3, flip: false, crop: 'center' },
  model: { resolution: 96, width: 1, dropout: 0.25, latentDim: 100 },
  train: { epochs: 150, batchSize: 32, learningRate: 1.5e-4, beta1: 0.5, seed: 1, logEvery: 10 },
  engine: { backend: 'auto', checkpointEvery: 5, threads: 'auto' },
  judge: { every: 10, samples: 512, enabled: true },
};
