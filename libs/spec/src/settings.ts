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
}

/** Label values the cartoon source draws and the `where` filter can ask for. */
export interface LabelFilter {
  gender?: 'male' | 'female';
  glasses?: boolean;
  facialHair?: boolean;
  hat?: boolean;
  skinTone?: 'light' | 'medium' | 'dark';
  hairColor?: 'black' | 'brown' | 'blonde' | 'red' | 'gray';
}

export interface DatasetSettings {
  /** Where the images come from; the embedded default is `cartoon` (drawn with facesjs). */
  source: 'cartoon';
  /** Exact number of training images. */
  size: number;
  /** Only images whose labels match every key (AND). Empty object: no filter. */
  where: LabelFilter;
  /** Seed of the subset choice (the cartoon faces themselves are a fixed sequence). */
  seed: number;
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
}

export const DEFAULT_SETTINGS: Settings = {
  dataset: { source: 'cartoon', size: 1200, where: {}, seed: 1 },
  model: { resolution: 96, width: 1, dropout: 0.25, latentDim: 100 },
  train: { epochs: 150, batchSize: 32, learningRate: 1.5e-4, beta1: 0.5, seed: 1, logEvery: 10 },
  engine: { backend: 'auto' },
};
