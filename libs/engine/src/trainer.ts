import * as tf from '@tensorflow/tfjs';
import { buildDiscriminator, buildGenerator, type DropoutLayerFactory } from '@facegan/model';
import type { Settings } from '@facegan/spec';
import { registerCpuKernelFixes } from './cpu-kernels';
import { mixSeed } from '@facegan/random';
import { fusedAdam } from './fused-adam';
import { createStepReplay, GpuDropout, markGpuStep, pacedDawnWait, randomNormalOnGpu, type StepReplay, type StepReplayStats } from './webgpu/index';

/** What one training step measured; accuracies use the 0.5 threshold. */
export interface StepMetrics {
  d_loss_real: number;
  d_loss_fake: number;
  g_loss: number;
  d_acc_real: number;
  d_acc_fake: number;
}

export interface Trainer {
  readonly generator: tf.LayersModel;
  readonly discriminator: tf.LayersModel;
  readonly generatorOptimizer: tf.AdamOptimizer;
  readonly discriminatorOptimizer: tf.AdamOptimizer;
  /** Steps trained so far, counting those before a resume: it keys the latents of the next step. */
  readonly globalStep: number;
  /** Whether dropout masks and latents are drawn with the Philox streams of libs/engine/src/webgpu (see TrainerOptions). */
  readonly deviceRandom: boolean;
  /** How many steps were replayed rather than run through tfjs (webgpu/step-replay.ts); undefined where steps are not replayed. */
  readonly stepReplay: StepReplayStats | undefined;
  /**
   * One discriminator update, then one generator update, on a batch of real images (NHWC in [-1, 1]).
   * Losses read NaN once the networks produce NaN. Reads its metrics back synchronously: not on
   * webgpu in Node (no synchronous read-back there), use stepAsync.
   */
  step(realImages: tf.Tensor4D): StepMetrics;
  /** `step` with an asynchronous read-back: works on every backend. */
  stepAsync(realImages: tf.Tensor4D): Promise<StepMetrics>;
  /** Images from the generator in inference mode (BN moving statistics, no dropout). The caller disposes them. */
  sample(latents: tf.Tensor2D): tf.Tensor4D;
  dispose(): void;
}

/**
 * Random streams derived from train.seed: initial weights, latents, shuffles, the grid latents, and
 * the device dropout masks. tfjs's own Dropout is not seeded (a seeded tfjs Dropout layer draws the
 * same mask at every call).
 */
export const SEED_STREAM = { generatorWeights: 1, discriminatorWeights: 2, latents: 3, shuffle: 4, gridLatents: 5, dropout: 6 } as const;

export interface TrainerOptions {
  /** Steps already trained (a resumed run): keys the latents, so a resumed run draws the ones it would have. */
  globalStep?: number;
  /**
   * Draw dropout masks (GpuDropout) and latents (randomNormalOnGpu) from seeded Philox streams: on
   * the device on webgpu, and the same numbers computed in JS on other backends. Default: on webgpu
   * only (elsewhere tfjs's Dropout and randomNormal are cheaper). With it on, every backend draws the
   * same masks and latents for the same seed; both are keyed by train.seed and the global step, so a
   * resumed run draws what an uninterrupted one would.
   */
  deviceRandom?: boolean;
  /**
   * Replay settled steps without tfjs (webgpu/step-replay.ts): the same GPU work, a fraction of the CPU's.
   * Default: on webgpu with the dispatch caches, unless FACEGAN_STEP_REPLAY=0. Needs deviceRandom. A
   * StepReplay (createStepReplay) is used as given: a benchmark keeps it to time the replayed dispatches.
   */
  stepReplay?: boolean | StepReplay;
}

/** Keras's epsilon: probabilities are clipped to [ε, 1 − ε] before the log. */
const EPSILON = 1e-7;
/**
 * BN normalises with batch statistics and Dropout drops. tfjs-layers' BatchNormalization also moves its
 * moving mean/variance on every training-mode call, inside minimize() too: per step G's move once
 * (its one forward pass) and D's three times (real, fake, G update).
 */
const TRAINING = { training: true };

function binaryCrossEntropy(probabilities: tf.Tensor, label: 0 | 1): tf.Scalar {
  const p = tf.clipByValue(probabilities, EPSILON, 1 - EPSILON);
  const logLikelihood = label === 1 ? tf.log(p) : tf.log(tf.sub(1, p));
  return tf.neg(tf.mean(logLikelihood)) as tf.Scalar;
}

/** The metrics from the step's statistics [D loss real, D loss fake, D acc real, D acc fake, D output sum, G loss, G output sum]. */
function stepMetrics(stats: ArrayLike<number>): StepMetrics {
  const [dLossReal, dLossFake, dAccReal, dAccFake, dOutputSum, gLoss, gOutputSum] = Array.from(stats);
  const dFinite = Number.isFinite(dOutputSum);
  return {
    d_loss_real: dFinite ? dLossReal : NaN,
    d_loss_fake: dFinite ? dLossFake : NaN,
    g_loss: Number.isFinite(gOutputSum) ? gLoss : NaN,
    d_acc_real: dAccReal,
    d_acc_fake: dAccFake,
  };
}

/**
 * Runs `fn` with tfjs's gradient tape set aside, so that a minimize() inside records, differentiates and
 * frees on a tape of its own. tfjs shares one tape between nested gradient computations: the enclosing
 * one would record the inner one's forward and backward kernels and keep every tensor they save until it
 * ends (+40% peak memory for the seed step; at 96 px, width 1, batch 32 past wasm's 4 GB).
 */
export function onOwnTape<T>(fn: () => T): T {
  const state = (tf.engine() as unknown as { state: { activeTape: unknown; gradientDepth: number } }).state;
  const { activeTape, gradientDepth } = state;
  state.activeTape = null;
  state.gradientDepth = 0;
  try {
    return fn();
  } finally {
    state.activeTape = activeTape;
    state.gradientDepth = gradientDepth;
  }
}

function accuracy(probabilities: tf.Tensor, label: 0 | 1): tf.Scalar {
  const correct = label === 1 ? tf.greater(probabilities, 0.5) : tf.lessEqual(probabilities, 0.5);
  return tf.mean(tf.cast(correct, 'float32')) as tf.Scalar;
}

/**
 * The generator and discriminator with their Adam optimizers. Each update lists its own variables:
 * Keras-style `trainable = false` toggling does not restrict what tfjs's `minimize` updates.
 * `globalStep` (steps already trained) keys the seeded latent vectors, so a resumed run draws the same ones.
 */
export function createTrainer(settings: Settings, options: TrainerOptions = {}): Trainer {
  const { model, train } = settings;
  registerCpuKernelFixes();
  let globalStep = options.globalStep ?? 0;
  /** The global step the step being run has (its latents and dropout masks are keyed by it). */
  let runningStep = globalStep;
  const deviceRandom = options.deviceRandom ?? tf.getBackend() === 'webgpu';
  const dropoutSeeds = mixSeed(train.seed, SEED_STREAM.dropout);
  const deviceDropout: DropoutLayerFactory = (rate, index) =>
    new GpuDropout({ rate, seed: mixSeed(dropoutSeeds, index), stepClock: () => runningStep });

  // fused upsample + conv blocks: the same function and weights, half the work where the backend has the kernels
  // batch norm's training step as one op with a two-pass gradient (FaceganBatchNormalization): the same function and weights
  const generator = buildGenerator(model, { seed: mixSeed(train.seed, SEED_STREAM.generatorWeights), fusedUpsampling: true, fusedBatchNorm: true });
  const discriminator = buildDiscriminator(model, {
    seed: mixSeed(train.seed, SEED_STREAM.discriminatorWeights),
    dropoutLayer: deviceRandom ? deviceDropout : undefined,
    // conv + bias add: the fused conv computes D's filter gradients in the generator update too, for nothing
    separateConvBias: true,
    fusedBatchNorm: true,
  });
  const generatorVariables = generator.trainableWeights.map((w) => w.read() as tf.Variable);
  const discriminatorVariables = discriminator.trainableWeights.map((w) => w.read() as tf.Variable);
  // Adam with fused update kernels where the backend has them (the same state: checkpoints are unchanged)
  const generatorOptimizer = fusedAdam(train.learningRate, train.beta1);
  const discriminatorOptimizer = fusedAdam(train.learningRate, train.beta1);
  const latentSeeds = mixSeed(train.seed, SEED_STREAM.latents);
  const drawLatents = (batch: number, step: number): tf.Tensor2D =>
    (deviceRandom
      ? randomNormalOnGpu([batch, model.latentDim], latentSeeds, step)
      : tf.randomNormal([batch, model.latentDim], 0, 1, 'float32', mixSeed(latentSeeds, step))) as tf.Tensor2D;
  // every number that changes from step to step is keyed by the global step on the device: replayable
  const replay =
    typeof options.stepReplay === 'object' ? options.stepReplay : (options.stepReplay ?? true) && deviceRandom ? createStepReplay() : undefined;

  /** Runs the updates; returns the step's statistics, still on the device (the caller reads and disposes them). */
  function dispatchStep(realImages: tf.Tensor4D): tf.Tensor1D {
    if (!replay) return runStep(realImages);
    return replay.step(realImages, (input) => runStep(input as tf.Tensor4D), countReplayedStep) as tf.Tensor1D;
  }

  /** What runStep does on the CPU's side, for a step replayed without it. */
  function countReplayedStep(): void {
    globalStep += 1;
    generatorOptimizer.countReplayedUpdate();
    discriminatorOptimizer.countReplayedUpdate();
  }

  function runStep(realImages: tf.Tensor4D): tf.Tensor1D {
    const batch = realImages.shape[0];
    runningStep = globalStep;
    globalStep += 1;
    markGpuStep(); // each op of the step can bind the buffers it had in the last steps (webgpu/dispatch-cache.ts)
    // minimize() disposes what its loss function makes; these few scalars are kept out of it by hand
    let discriminatorStats: tf.Tensor | undefined;
    let generatorOutputSum: tf.Tensor | undefined;
    try {
      const stats = tf.tidy(() => {
        const latents = drawLatents(batch, runningStep);
        // One generator forward pass serves both updates, as in PyTorch's DCGAN: the generator's
        // minimize() records it, the discriminator update runs inside on a tape of its own (D's
        // variables only; its Adam step rewrites them in place, so nothing leads from it to the
        // generator's loss), and the generator's loss judges the same fakes with the updated discriminator.
        const generatorLoss = generatorOptimizer.minimize(
          () => {
            const fakes = generator.apply(latents, TRAINING) as tf.Tensor4D;
            onOwnTape(() =>
              discriminatorOptimizer.minimize(
                () => {
                  const real = discriminator.apply(realImages, TRAINING) as tf.Tensor;
                  const fake = discriminator.apply(fakes, TRAINING) as tf.Tensor;
                  const lossReal = binaryCrossEntropy(real, 1);
                  const lossFake = binaryCrossEntropy(fake, 0);
                  // the unclipped output sum carries NaN through even where a backend's clip would swallow it
                  const outputSum = tf.add(tf.sum(real), tf.sum(fake));
                  discriminatorStats = tf.keep(tf.stack([lossReal, lossFake, accuracy(real, 1), accuracy(fake, 0), outputSum]));
                  return tf.add(lossReal, lossFake) as tf.Scalar;
                },
                false,
                discriminatorVariables,
              ),
            );
            const judged = discriminator.apply(fakes, TRAINING) as tf.Tensor;
            generatorOutputSum = tf.keep(tf.sum(judged));
            return binaryCrossEntropy(judged, 1);
          },
          true,
          generatorVariables,
        ) as tf.Scalar;

        return tf.concat([discriminatorStats as tf.Tensor1D, tf.stack([generatorLoss, generatorOutputSum as tf.Scalar])]);
      });
      return stats as tf.Tensor1D;
    } finally {
      tf.dispose([discriminatorStats, generatorOutputSum].filter((t): t is tf.Tensor => t !== undefined));
    }
  }

  // the one read-back of a step
  function step(realImages: tf.Tensor4D): StepMetrics {
    const stats = dispatchStep(realImages);
    try {
      return stepMetrics(stats.dataSync());
    } finally {
      stats.dispose();
    }
  }

  async function stepAsync(realImages: tf.Tensor4D): Promise<StepMetrics> {
    const stats = dispatchStep(realImages);
    try {
      const values = stats.data();
      return stepMetrics(await (tf.getBackend() === 'webgpu' ? pacedDawnWait(values) : values));
    } finally {
      stats.dispose();
    }
  }

  return {
    generator,
    discriminator,
    generatorOptimizer,
    discriminatorOptimizer,
    get globalStep() {
      return globalStep;
    },
    deviceRandom,
    get stepReplay() {
      return replay ? { ...replay.stats } : undefined;
    },
    step,
    stepAsync,
    sample: (latents) => tf.tidy(() => generator.apply(latents, { training: false }) as tf.Tensor4D),
    dispose() {
      replay?.dispose();
      generator.dispose();
      discriminator.dispose();
      generatorOptimizer.dispose();
      discriminatorOptimizer.dispose();
    },
  };
}
