import * as tf from '@tensorflow/tfjs';
import { Conv3x3Layer, type Conv3x3LayerArgs } from './conv3x3-layer';

export interface SeparateBiasConv2DArgs extends Conv3x3LayerArgs {
  strides: number;
}

/**
 * Conv2D({ filters, kernelSize: 3, strides, padding: 'same' }) computed as conv2d + bias add, with the
 * Conv2D's weights (Conv3x3Layer).
 * tfjs-layers' Conv2D runs the fused conv op, whose gradient computes the filter gradient and the input
 * gradient whenever either is asked for; Conv2D's own gradient is per input. So in the generator update,
 * where the discriminator's weights are not being trained, its filter gradients are not computed, nor the
 * gradient of the images at its first layer in the discriminator update (the seed discriminator: 5 of
 * 19 filter gradients a step).
 */
export class SeparateBiasConv2D extends Conv3x3Layer {
  static readonly className = 'FaceganSeparateBiasConv2D';
  readonly strides: number;

  constructor(args: SeparateBiasConv2DArgs) {
    super(args);
    this.strides = args.strides;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const [batch, h, w] = inputShape as tf.Shape;
    const out = (size: number | null) => (size === null ? null : Math.ceil(size / this.strides));
    return [batch, out(h), out(w), this.filters];
  }

  protected override convolve(x: tf.Tensor4D, kernel: tf.Tensor4D, bias: tf.Tensor1D): tf.Tensor {
    return tf.tidy(() => tf.add(tf.conv2d(x, kernel, this.strides, 'same'), bias));
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), strides: this.strides };
  }
}
tf.serialization.registerClass(SeparateBiasConv2D);
