import * as tf from '@tensorflow/tfjs';
import type { ModelSettings } from '@facegan/spec';
import { batchNormalization } from './batch-norm';
import { SeparateBiasConv2D } from './separate-bias-conv';
import { UpsampleConv2D } from './upsample-conv';

/**
 * The seed DCGAN of Jeff Heaton's Keras faces notebook (t81_558 class_07_2_Keras_gan),
 * layer for layer. `width` scales every filter count.
 */

export interface BuildOptions {
  /** Seeds the kernel initializers (Glorot uniform, the tfjs default); unseeded when absent. */
  seed?: number;
  /**
   * Makes the discriminator's dropout layers (buildDiscriminator only): called once per dropout, in
   * order, with its rate and 0-based index. Default `tf.layers.dropout({ rate })`. The WebGPU engine
   * passes a layer that draws its masks on the device.
   */
  dropoutLayer?: DropoutLayerFactory;
  /**
   * buildGenerator only: each block's UpSampling2D + Conv2D as one UpsampleConv2D layer (the same
   * function and weights, in about half the multiply-adds where the backend has its kernels). The
   * trainer asks for it; by default the seed's two layers.
   */
  fusedUpsampling?: boolean;
  /**
   * buildDiscriminator only: each Conv2D as a SeparateBiasConv2D (the same function and weights; its
   * gradients are computed only where asked for, which the fused op behind Conv2D does not do). The
   * trainer asks for it; by default the seed's Conv2D layers.
   */
  separateConvBias?: boolean;
  /**
   * Both networks: each BatchNormalization as a FaceganBatchNormalization (the same weights and function;
   * its training step is one op with the batch-norm gradient in two passes, where tfjs-layers records
   * about a dozen ops). The trainer asks for it; by default tfjs-layers' layer.
   */
  fusedBatchNorm?: boolean;
}

export type DropoutLayerFactory = (rate: number, index: number) => tf.layers.Layer;

const stockDropout: DropoutLayerFactory = (rate) => tf.layers.dropout({ rate });

/** A filter count of the seed model scaled by `width`: rounded, at least 1. */
export function scaledFilters(filters: number, width: number): number {
  return Math.max(1, Math.round(filters * width));
}

export function assertResolution(resolution: number): void {
  if (!Number.isInteger(resolution) || resolution < 32 || resolution % 32 !== 0) {
    throw new Error(`model.resolution must be a multiple of 32 (32, 64, 96, ...), got ${resolution}`);
  }
}

/** latent [latentDim] → image [R, R, 3] in [-1, 1]. */
export function buildGenerator(m: ModelSettings, options: BuildOptions = {}): tf.LayersModel {
  assertResolution(m.resolution);
  const filters = (n: number) => scaledFilters(n, m.width);
  const kernelInitializer = kernelInitializers(options.seed);
  const generator = tf.sequential({ name: 'generator' });

  generator.add(
    tf.layers.dense({
      inputShape: [m.latentDim],
      units: 4 * 4 * filters(256),
      activation: 'relu',
      kernelInitializer: kernelInitializer(),
    }),
  );
  generator.add(tf.layers.reshape({ targetShape: [4, 4, filters(256)] }));

  const upsampleBlock = (outFilters: number, scale: number) => {
    if (options.fusedUpsampling) {
      generator.add(new UpsampleConv2D({ filters: filters(outFilters), size: scale, kernelInitializer: kernelInitializer() }));
    } else {
      generator.add(tf.layers.upSampling2d({ size: [scale, scale] }));
      generator.add(
        tf.layers.conv2d({ filters: filters(outFilters), kernelSize: 3, padding: 'same', kernelInitializer: kernelInitializer() }),
      );
    }
    generator.add(batchNorm(options));
    generator.add(tf.layers.activation({ activation: 'relu' }));
  };
  upsampleBlock(256, 2); // 8 px
  upsampleBlock(256, 2); // 16 px
  upsampleBlock(128, 2); // 32 px
  if (m.resolution > 32) upsampleBlock(128, m.resolution / 32);

  generator.add(tf.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same', kernelInitializer: kernelInitializer() }));
  generator.add(tf.layers.activation({ activation: 'tanh' }));
  return generator;
}

/** image [R, R, 3] → probability [1] that the image is real. */
export function buildDiscriminator(m: ModelSettings, options: BuildOptions = {}): tf.LayersModel {
  assertResolution(m.resolution);
  const filters = (n: number) => scaledFilters(n, m.width);
  const kernelInitializer = kernelInitializers(options.seed);
  const makeDropout = options.dropoutLayer ?? stockDropout;
  let dropouts = 0;
  const dropout = () => makeDropout(m.dropout, dropouts++);
  const discriminator = tf.sequential({ name: 'discriminator' });
  const conv = (outFilters: number, strides: number, inputShape?: number[]) =>
    options.separateConvBias
      ? new SeparateBiasConv2D({ filters: filters(outFilters), strides, inputShape, kernelInitializer: kernelInitializer() })
      : tf.layers.conv2d({ inputShape, filters: filters(outFilters), kernelSize: 3, strides, padding: 'same', kernelInitializer: kernelInitializer() });

  discriminator.add(conv(32, 2, [m.resolution, m.resolution, 3]));
  discriminator.add(tf.layers.leakyReLU({ alpha: 0.2 }));
  discriminator.add(dropout());

  const convBlock = (outFilters: number, strides: number, padBottomRight = false) => {
    discriminator.add(conv(outFilters, strides));
    if (padBottomRight) discriminator.add(tf.layers.zeroPadding2d({ padding: [[0, 1], [0, 1]] }));
    discriminator.add(batchNorm(options));
    discriminator.add(tf.layers.leakyReLU({ alpha: 0.2 }));
    discriminator.add(dropout());
  };
  convBlock(64, 2, true);
  convBlock(128, 2);
  convBlock(256, 1);
  convBlock(512, 1);

  discriminator.add(tf.layers.flatten());
  discriminator.add(tf.layers.dense({ units: 1, activation: 'sigmoid', kernelInitializer: kernelInitializer() }));
  return discriminator;
}

/** The seed's batch normalisation (momentum 0.8, Keras's ε 1e-3). */
function batchNorm(options: BuildOptions): tf.layers.Layer {
  return options.fusedBatchNorm ? batchNormalization({ momentum: 0.8 }) : tf.layers.batchNormalization({ momentum: 0.8 });
}

/** One initializer per layer: the same seed would give every same-shaped layer the same weights. */
function kernelInitializers(seed: number | undefined): () => ReturnType<typeof tf.initializers.glorotUniform> | 'glorotUniform' {
  let layer = 0;
  return () => {
    layer += 1;
    return seed === undefined ? 'glorotUniform' : tf.initializers.glorotUniform({ seed: seed * 1000 + layer });
  };
}
