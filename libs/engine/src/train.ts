import * as tf from '@tensorflow/tfjs';
import { encodeGridPng } from '@facegan/data';
import type { Dataset } from '@facegan/data';
import type { Settings } from '@facegan/spec';
import { mixSeed, shuffledIndices } from './random';
import { createTrainer, SEED_STREAM, type StepMetrics, type Trainer } from './trainer';

export interface StepProgress {
  epoch: number;
  /** Step within the epoch, 1-based. */
  step: number;
  stepsPerEpoch: number;
  /** Steps trained so far in the run, this one included. */
  globalStep: number;
  /** This step's metrics. */
  metrics: Record<string, number>;
}

export interface EpochReport {
  epoch: number;
  /** Means over the epoch's steps, plus img_per_s and epoch_seconds. */
  metrics: Record<string, number>;
  /** 4 × 7 samples of a fixed latent set, generator in inference mode. */
  gridPng: Buffer;
}

export interface TrainHooks {
  /** Every train.logEvery steps and on the last step of each epoch. */
  onStep?(progress: StepProgress): void;
  /** After every epoch; training waits for it. */
  onEpoch(report: EpochReport): Promise<void>;
}

export type TrainResult =
  | { status: 'done'; epochs: number }
  | { status: 'diverged'; epoch: number }
  | { status: 'aborted'; epoch: number };

export interface TrainOptions {
  /** Stops after the current step. */
  signal?: AbortSignal;
  /** First epoch to train (1-based, default 1): epoch numbers, shuffles and latents continue from there. */
  startEpoch?: number;
}

/** The sample grid of the notebook: 4 rows of 7. */
const GRID = { rows: 4, cols: 7 } as const;

/** Trains one variant for settings.train.epochs epochs on the current tfjs backend (see initBackend). */
export async function trainVariant(
  settings: Settings,
  dataset: Dataset,
  hooks: TrainHooks,
  options: TrainOptions = {},
): Promise<TrainResult> {
  const { model, train } = settings;
  if (dataset.resolution !== model.resolution || dataset.channels !== 3) {
    throw new Error(`dataset is ${dataset.resolution} px × ${dataset.channels}, the model wants ${model.resolution} px × 3`);
  }
  if (dataset.count < 1) throw new Error('dataset is empty');
  // the last partial batch is dropped; a dataset smaller than one batch trains on all of it
  const batchSize = Math.min(train.batchSize, dataset.count);
  const stepsPerEpoch = Math.max(1, Math.floor(dataset.count / train.batchSize));
  const startEpoch = options.startEpoch ?? 1;

  let globalStep = (startEpoch - 1) * stepsPerEpoch;
  const trainer = createTrainer(settings, { globalStep });
  const gridLatents = tf.randomNormal(
    [GRID.rows * GRID.cols, model.latentDim],
    0,
    1,
    'float32',
    mixSeed(train.seed, SEED_STREAM.gridLatents),
  ) as tf.Tensor2D;
  const shuffleSeeds = mixSeed(train.seed, SEED_STREAM.shuffle);
  const aborted = () => options.signal?.aborted ?? false;

  try {
    for (let epoch = startEpoch; epoch <= train.epochs; epoch++) {
      if (aborted()) return { status: 'aborted', epoch };
      const order = shuffledIndices(dataset.count, mixSeed(shuffleSeeds, epoch));
      const sums: Record<string, number> = {};
      const started = performance.now();

      for (let step = 1; step <= stepsPerEpoch; step++) {
        const realImages = batchTensor(dataset, order.subarray((step - 1) * batchSize, step * batchSize));
        let metrics: StepMetrics;
        try {
          metrics = trainer.step(realImages);
        } finally {
          realImages.dispose();
        }
        globalStep += 1;
        if (!Number.isFinite(metrics.d_loss_real + metrics.d_loss_fake + metrics.g_loss)) {
          return { status: 'diverged', epoch };
        }
        for (const [name, value] of Object.entries(metrics)) sums[name] = (sums[name] ?? 0) + value;
        if (hooks.onStep && (step % train.logEvery === 0 || step === stepsPerEpoch)) {
          hooks.onStep({ epoch, step, stepsPerEpoch, globalStep, metrics: { ...metrics } });
        }
        if (aborted()) return { status: 'aborted', epoch };
        // let timers, signals and I/O run: a step is synchronous and can take seconds
        await new Promise((resolve) => setImmediate(resolve));
      }

      const epochSeconds = (performance.now() - started) / 1000;
      const metrics: Record<string, number> = {};
      for (const [name, sum] of Object.entries(sums)) metrics[name] = sum / stepsPerEpoch;
      metrics.img_per_s = (stepsPerEpoch * batchSize) / epochSeconds;
      metrics.epoch_seconds = epochSeconds;
      const gridPng = await sampleGrid(trainer, gridLatents, model.resolution);
      await hooks.onEpoch({ epoch, metrics, gridPng });
    }
    return { status: 'done', epochs: train.epochs };
  } finally {
    gridLatents.dispose();
    trainer.dispose();
  }
}

function batchTensor(dataset: Dataset, indices: Uint32Array): tf.Tensor4D {
  const imageLength = dataset.resolution * dataset.resolution * dataset.channels;
  // a fresh array per batch: the cpu backend keeps a reference to what it is given
  const batch = new Float32Array(indices.length * imageLength);
  indices.forEach((index, i) => {
    batch.set(dataset.images.subarray(index * imageLength, (index + 1) * imageLength), i * imageLength);
  });
  return tf.tensor4d(batch, [indices.length, dataset.resolution, dataset.resolution, dataset.channels]);
}

async function sampleGrid(trainer: Trainer, latents: tf.Tensor2D, resolution: number): Promise<Buffer> {
  const images = trainer.sample(latents);
  try {
    const pixels = (await images.data()) as Float32Array;
    return await encodeGridPng(pixels, { count: latents.shape[0], resolution, channels: 3, ...GRID });
  } finally {
    images.dispose();
  }
}
