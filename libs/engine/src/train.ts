import * as tf from '@tensorflow/tfjs';
import { encodeGridPng } from '@facegan/data';
import type { Dataset } from '@facegan/data';
import type { Settings } from '@facegan/spec';
import { pruneResumeState, readCheckpointState, restoreCheckpoint, writeCheckpoint } from './checkpoint/index';
import { mixSeed, sampleIndices } from '@facegan/random';
import { generateImages } from './sample';
import { createTrainer, SEED_STREAM, type StepMetrics, type Trainer } from './trainer';
import { gemmAutotuneDefault, gemmTuningTotals, loadGemmTuning, queueAndTune, saveGemmTuning, type AutotuneOptions } from './webgpu/index';

export interface StepProgress {
  epoch: number;
  /** Step within the epoch, 1-based. */
  step: number;
  stepsPerEpoch: number;
  /** Steps trained so far in the run, this one included. */
  globalStep: number;
  /** This step's metrics. */
  metrics: Record<string, number>;
  /** Images per second over the epoch so far. */
  imagesPerSecond: number;
}

export interface EpochReport {
  epoch: number;
  /** Means over the epoch's steps, plus img_per_s and epoch_seconds. */
  metrics: Record<string, number>;
  /** 4 × 7 samples of a fixed latent set, generator in inference mode. */
  gridPng: Buffer;
  /**
   * The generator's images for these latents (`count` × model.latentDim, e.g. from randomLatents), in inference
   * mode, in batches: NHWC in [-1, 1], `count` × resolution² × 3 values. Only while onEpoch runs (training waits).
   */
  sample(latents: Float32Array): Promise<Float32Array>;
}

export interface CheckpointReport {
  epoch: number;
  globalStep: number;
  /** The checkpoint's folder: `<checkpointFolder>/epoch-NNNN`. */
  folder: string;
}

export interface TrainHooks {
  /** Every train.logEvery steps and on the last step of each epoch. */
  onStep?(progress: StepProgress): void;
  /** After every epoch; training waits for it. */
  onEpoch(report: EpochReport): Promise<void>;
  /**
   * After a checkpoint is written (after that epoch's onEpoch); training waits for it. Once it
   * resolves, the previous checkpoint is pruned to its generator: record the new one here.
   */
  onCheckpoint?(report: CheckpointReport): Promise<void>;
  /** After the first step's convolution GEMMs were tuned (TrainOptions.autotune). */
  onGemmTuning?(report: GemmTuningReport): void;
}

export interface GemmTuningReport {
  /** Problems timed now, and choices read from TrainOptions.tuningFile. */
  timed: number;
  fromFile: number;
  /** Wall time of the first step with the tuning. */
  seconds: number;
  /** GPU ms of one call of each timed problem, in the chosen variants and in the default plans. */
  tunedMs: number;
  defaultMs: number;
}

export type TrainResult =
  | {
      status: 'done';
      epochs: number;
      /** Webgpu: how many of this run's steps were replayed without tfjs (webgpu/step-replay.ts), and of how many. */
      replayedSteps?: { replayed: number; steps: number };
    }
  | { status: 'diverged'; epoch: number }
  | { status: 'aborted'; epoch: number };

export interface TrainOptions {
  /** Stops after the current step. */
  signal?: AbortSignal;
  /**
   * Writes a checkpoint into `<checkpointFolder>/epoch-NNNN/` every engine.checkpointEvery epochs and
   * after the last; none without it.
   */
  checkpointFolder?: string;
  /**
   * A checkpoint folder to continue from: its weights, optimizer state and step count; training goes
   * on at the epoch after it, with the shuffles and latents an uninterrupted run would have drawn.
   */
  resumeFrom?: string;
  /** Passed to createTrainer (see TrainerOptions.deviceRandom). */
  deviceRandom?: boolean;
  /**
   * Queue each step before the previous step's metrics are read back. Default: on webgpu, whose steps run
   * asynchronously on the device; the CPU backends compute a step while queueing it, so there it would only
   * delay the metrics (and an abort) by a step.
   */
  pipelined?: boolean;
  /**
   * Time the convolution GEMMs' variants on the device during the first step and use the fastest for each
   * (webgpu/gemm-tuning.ts); options as autotuneGemms takes them. Default: on webgpu over a real GPU
   * (gemmAutotuneDefault).
   */
  autotune?: boolean | AutotuneOptions;
  /**
   * With autotune: a JSON file of choices tuned before on this adapter, read first (those problems are not timed
   * again, so a resumed run runs the variants the interrupted one ran) and written with the new ones.
   */
  tuningFile?: string;
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
  const { checkpointEvery } = settings.engine;

  const resumed = options.resumeFrom ? readCheckpointState(options.resumeFrom) : undefined;
  if (resumed && resumed.globalStep !== resumed.epoch * stepsPerEpoch) {
    throw new Error(
      `${options.resumeFrom}: ${resumed.globalStep} steps after ${resumed.epoch} epochs, but this dataset gives ${stepsPerEpoch} steps an epoch`,
    );
  }
  const startEpoch = (resumed?.epoch ?? 0) + 1;
  let globalStep = resumed?.globalStep ?? 0;
  // the random scheme is the backend's (device streams on webgpu): a run resumed on the same backend draws the
  // latents the uninterrupted run would have
  const trainer = createTrainer(settings, { globalStep, deviceRandom: options.deviceRandom });
  let previousCheckpoint = options.resumeFrom;
  if (options.resumeFrom) {
    try {
      await restoreCheckpoint(options.resumeFrom, trainer, settings);
    } catch (error) {
      trainer.dispose();
      throw error;
    }
  }
  const gridLatents = tf.randomNormal(
    [GRID.rows * GRID.cols, model.latentDim],
    0,
    1,
    'float32',
    mixSeed(train.seed, SEED_STREAM.gridLatents),
  ) as tf.Tensor2D;
  const shuffleSeeds = mixSeed(train.seed, SEED_STREAM.shuffle);
  const aborted = () => options.signal?.aborted ?? false;
  const pipelined = options.pipelined ?? tf.getBackend() === 'webgpu';
  const autotune = options.autotune ?? gemmAutotuneDefault();
  let tuneNextStep = autotune !== false;

  try {
    for (let epoch = startEpoch; epoch <= train.epochs; epoch++) {
      if (aborted()) return { status: 'aborted', epoch };
      const order = sampleIndices(dataset.count, dataset.count, mixSeed(shuffleSeeds, epoch));
      const sums: Record<string, number> = {};
      const started = performance.now();
      const imagesPerSecond = (steps: number) => (steps * batchSize) / Math.max(1e-9, (performance.now() - started) / 1000);

      const queueStep = (step: number): Promise<StepMetrics> => {
        const realImages = batchTensor(dataset, order.subarray((step - 1) * batchSize, step * batchSize));
        try {
          // stepAsync queues the whole step before its first await: the batch can go as soon as it returns
          return trainer.stepAsync(realImages);
        } finally {
          realImages.dispose();
        }
      };
      /** Books a finished step; what to stop with, if it should stop. */
      const finishStep = (step: number, metrics: StepMetrics): TrainResult | undefined => {
        globalStep += 1;
        if (!Number.isFinite(metrics.d_loss_real + metrics.d_loss_fake + metrics.g_loss)) {
          return { status: 'diverged', epoch };
        }
        for (const [name, value] of Object.entries(metrics)) sums[name] = (sums[name] ?? 0) + value;
        if (hooks.onStep && (step % train.logEvery === 0 || step === stepsPerEpoch)) {
          hooks.onStep({ epoch, step, stepsPerEpoch, globalStep, metrics: { ...metrics }, imagesPerSecond: imagesPerSecond(step) });
        }
        return aborted() ? { status: 'aborted', epoch } : undefined;
      };

      // Pipelined, step s + 1 is queued before step s's metrics are awaited, so the device does not idle
      // while they are read back and the next step is queued.
      const inFlight: { step: number; metrics: Promise<StepMetrics> }[] = [];
      for (let step = 1; step <= stepsPerEpoch; step++) {
        if (tuneNextStep) {
          tuneNextStep = false;
          const tuning = typeof autotune === 'object' ? autotune : {};
          inFlight.push({ step, metrics: (await queueAndTuneFirstStep(() => queueStep(step), hooks, options.tuningFile, tuning)).metrics });
        } else {
          inFlight.push({ step, metrics: queueStep(step) });
        }
        while (inFlight.length > (pipelined && step < stepsPerEpoch ? 1 : 0)) {
          const oldest = inFlight.shift() as (typeof inFlight)[number];
          const stop = finishStep(oldest.step, await oldest.metrics);
          if (stop) {
            await Promise.allSettled(inFlight.map((queued) => queued.metrics));
            return stop;
          }
        }
        // let timers, signals and I/O run: a step is synchronous on the CPU backends and can take seconds
        await new Promise((resolve) => setImmediate(resolve));
      }

      const epochSeconds = (performance.now() - started) / 1000;
      const metrics: Record<string, number> = {};
      for (const [name, sum] of Object.entries(sums)) metrics[name] = sum / stepsPerEpoch;
      metrics.img_per_s = (stepsPerEpoch * batchSize) / epochSeconds;
      metrics.epoch_seconds = epochSeconds;
      const gridPng = await sampleGrid(trainer, gridLatents, model.resolution);
      const sample = async (latents: Float32Array) => (await generateImages(trainer.generator, latents)).images;
      await hooks.onEpoch({ epoch, metrics, gridPng, sample });

      if (options.checkpointFolder && (epoch % checkpointEvery === 0 || epoch === train.epochs)) {
        const folder = await writeCheckpoint(options.checkpointFolder, trainer, settings, epoch);
        await hooks.onCheckpoint?.({ epoch, globalStep, folder });
        if (previousCheckpoint && previousCheckpoint !== folder) pruneResumeState(previousCheckpoint);
        previousCheckpoint = folder;
      }
    }
    const replay = trainer.stepReplay;
    return {
      status: 'done',
      epochs: train.epochs,
      ...(replay ? { replayedSteps: { replayed: replay.replayed, steps: globalStep - (resumed?.globalStep ?? 0) } } : {}),
    };
  } finally {
    gridLatents.dispose();
    trainer.dispose();
  }
}

/** The run's first step, its GEMMs tuned while it runs (problems tuned before, or read from `tuningFile`, are not timed again). */
async function queueAndTuneFirstStep(
  queue: () => Promise<StepMetrics>,
  hooks: TrainHooks,
  tuningFile: string | undefined,
  options: AutotuneOptions,
): Promise<{ metrics: Promise<StepMetrics> }> {
  const started = performance.now();
  const fromFile = tuningFile ? loadGemmTuning(tuningFile) : 0;
  const { result, tuning } = await queueAndTune(queue, options);
  if (tuningFile && tuning.length > 0) saveGemmTuning(tuningFile);
  const total = gemmTuningTotals(tuning);
  hooks.onGemmTuning?.({ timed: tuning.length, fromFile, seconds: (performance.now() - started) / 1000, tunedMs: total.ms, defaultMs: total.defaultMs });
  return { metrics: result };
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
  const { images } = await generateImages(trainer.generator, (await latents.data()) as Float32Array);
  return encodeGridPng(images, { count: latents.shape[0], resolution, channels: 3, ...GRID });
}
