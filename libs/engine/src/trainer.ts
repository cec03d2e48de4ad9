import * as tf from '@tensorflow/tfjs';
import { buildDiscriminator, buildGenerator } from '@facegan/model';
import type { Settings } from '@facegan/spec';
import { mixSeed } from './random';

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
  /**
   * One discriminator update, then one generator update, on a batch of real images (NHWC in [-1, 1]).
   * Losses read NaN once the networks produce NaN.
   */
  step(realImages: tf.Tensor4D): StepMetrics;
  /** Images from the generator in inference mode (BN moving statistics, no dropout). The caller disposes them. */
  sample(latents: tf.Tensor2D): tf.Tensor4D;
  dispose(): void;
}

/**
 * Random streams derived from train.seed: initial weights, latents, shuffles, the grid latents.
 * Dropout masks are not seeded (a seeded tfjs Dropout layer draws the same mask at every call).
 */
export const SEED_STREAM = { generatorWeights: 1, discriminatorWeights: 2, latents: 3, shuffle: 4, gridLatents: 5 } as const;

/** Keras's epsilon: probabilities are clipped to [ε, 1 − ε] before the log. */
const EPSILON = 1e-7;
/**
 * BN normalises with batch statistics and Dropout drops. tfjs-layers' BatchNormalization also moves its
 * moving mean/variance on every training-mode call, inside minimize() too: per step G's move twice
 * (fakes for D, then the G update) and D's three times (real, fake, G update).
 */
const TRAINING = { training: true };

function binaryCrossEntropy(probabilities: tf.Tensor, label: 0 | 1): tf.Scalar {
  const p = tf.clipByValue(probabilities, EPSILON, 1 - EPSILON);
  const logLikelihood = label === 1 ? tf.log(p) : tf.log(tf.sub(1, p));
  return tf.neg(tf.mean(logLikelihood)) as tf.Scalar;
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
export function createTrainer(settings: Settings, options: { globalStep?: number } = {}): Trainer {
  const { model, train } = settings;
  const generator = buildGenerator(model, { seed: mixSeed(train.seed, SEED_STREAM.generatorWeights) });
  const discriminator = buildDiscriminator(model, { seed: mixSeed(train.seed, SEED_STREAM.discriminatorWeights) });
  const generatorVariables = generator.trainableWeights.map((w) => w.read() as tf.Variable);
  const discriminatorVariables = discriminator.trainableWeights.map((w) => w.read() as tf.Variable);
  const generatorOptimizer = tf.train.adam(train.learningRate, train.beta1);
  const discriminatorOptimizer = tf.train.adam(train.learningRate, train.beta1);
  const latentSeeds = mixSeed(train.seed, SEED_STREAM.latents);
  let globalStep = options.globalStep ?? 0;

  function step(realImages: tf.Tensor4D): StepMetrics {
    const batch = realImages.shape[0];
    const latentSeed = mixSeed(latentSeeds, globalStep);
    globalStep += 1;
    // minimize() disposes what its loss function makes; these few scalars are kept out of it by hand
    let discriminatorStats: tf.Tensor | undefined;
    let generatorOutputSum: tf.Tensor | undefined;
    try {
      const stats = tf.tidy(() => {
        const latents = tf.randomNormal([batch, model.latentDim], 0, 1, 'float32', latentSeed);
        // made outside the discriminator's minimize: its gradients cannot reach the generator
        const fakes = generator.apply(latents, TRAINING) as tf.Tensor4D;

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
        );

        // the same latents as the discriminator's fakes, judged by the updated discriminator
        const generatorLoss = generatorOptimizer.minimize(
          () => {
            const judged = discriminator.apply(generator.apply(latents, TRAINING), TRAINING) as tf.Tensor;
            generatorOutputSum = tf.keep(tf.sum(judged));
            return binaryCrossEntropy(judged, 1);
          },
          true,
          generatorVariables,
        ) as tf.Scalar;

        return tf.concat([discriminatorStats as tf.Tensor1D, tf.stack([generatorLoss, generatorOutputSum as tf.Scalar])]);
      });
      // the one read-back of the step
      const [dLossReal, dLossFake, dAccReal, dAccFake, dOutputSum, gLoss, gOutputSum] = stats.dataSync();
      stats.dispose();
      const dFinite = Number.isFinite(dOutputSum);
      return {
        d_loss_real: dFinite ? dLossReal : NaN,
        d_loss_fake: dFinite ? dLossFake : NaN,
        g_loss: Number.isFinite(gOutputSum) ? gLoss : NaN,
        d_acc_real: dAccReal,
        d_acc_fake: dAccFake,
      };
    } finally {
      tf.dispose([discriminatorStats, generatorOutputSum].filter((t): t is tf.Tensor => t !== undefined));
    }
  }

  return {
    generator,
    discriminator,
    step,
    sample: (latents) => tf.tidy(() => generator.apply(latents, { training: false }) as tf.Tensor4D),
    dispose() {
      generator.dispose();
      discriminator.dispose();
      generatorOptimizer.dispose();
      discriminatorOptimizer.dispose();
    },
  };
}
