import * as tf from '@tensorflow/tfjs';

/** What tf.initializers.glorotUniform() and its siblings return. */
type KernelInitializer = ReturnType<typeof tf.initializers.glorotUniform>;

export interface SeparateBiasConv2DArgs {
  filters: number;
  strides: number;
  kernelInitializer?: KernelInitializer | 'glorotUniform';
  inputShape?: number[];
  name?: string;
}

/**
 * Conv2D({ filters, kernelSize: 3, strides, padding: 'same' }) computed as conv2d + bias add, with the
 * Conv2D's weights (kernel [3, 3, in, filters], bias [filters], in that order, same initializers).
 * tfjs-layers' Conv2D runs the fused conv op, whose gradient computes the filter gradient and the input
 * gradient whenever either is asked for; Conv2D's own gradient is per input. So in the generator update,
 * where the discriminator's weights are not being trained, its filter gradients are not computed, nor the
 * gradient of the images at its first layer in the discriminator update (the seed discriminator: 5 of
 * 19 filter gradients a step).
 */
export class SeparateBiasConv2D extends tf.layers.Layer {
  static readonly className = 'FaceganSeparateBiasConv2D';
  readonly filters: number;
  readonly strides: number;
  private readonly kernelInitializer: KernelInitializer | 'glorotUniform';
  private kernel?: tf.LayerVariable;
  private bias?: tf.LayerVariable;

  constructor(args: SeparateBiasConv2DArgs) {
    super({ name: args.name, inputShape: args.inputShape });
    this.filters = args.filters;
    this.strides = args.strides;
    this.kernelInitializer = args.kernelInitializer ?? 'glorotUniform';
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = inputShape as tf.Shape;
    const channels = shape[shape.length - 1] as number;
    const initializer = typeof this.kernelInitializer === 'string' ? tf.initializers.glorotUniform({}) : this.kernelInitializer;
    this.kernel = this.addWeight('kernel', [3, 3, channels, this.filters], 'float32', initializer);
    this.bias = this.addWeight('bias', [this.filters], 'float32', tf.initializers.zeros());
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const [batch, h, w] = inputShape as tf.Shape;
    const out = (size: number | null) => (size === null ? null : Math.ceil(size / this.strides));
    return [batch, out(h), out(w), this.filters];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
    if (this.kernel === undefined || this.bias === undefined) throw new Error(`${this.name}: called before build`);
    return tf.tidy(() => tf.add(tf.conv2d(x, this.kernel?.read() as tf.Tensor4D, this.strides, 'same'), this.bias?.read() as tf.Tensor1D));
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), filters: this.filters, strides: this.strides };
  }
}
tf.serialization.registerClass(SeparateBiasConv2D);
