import * as tf from '@tensorflow/tfjs';

/** What tf.initializers.glorotUniform() and its siblings return. */
type KernelInitializer = ReturnType<typeof tf.initializers.glorotUniform>;

/** tfjs's layer arguments (name, inputShape, batchInputShape, ...: a saved model's config passes them all back). */
type LayerArgs = NonNullable<ConstructorParameters<typeof tf.layers.Layer>[0]>;

export interface Conv3x3LayerArgs extends LayerArgs {
  filters: number;
  kernelInitializer?: KernelInitializer | 'glorotUniform';
}

/**
 * A layer with a Conv2D's weights for a 3×3 kernel: kernel [3, 3, in, filters] (the initializer given,
 * Glorot uniform by default) and bias [filters] (zeros), in that order. The project's convolution layers
 * compute differently from tfjs-layers' Conv2D; holding the same weights in the same order keeps a model
 * built with them interchangeable with the seed's (checkpoints load into either).
 */
export abstract class Conv3x3Layer extends tf.layers.Layer {
  readonly filters: number;
  private readonly kernelInitializer: KernelInitializer | 'glorotUniform';
  private kernel?: tf.LayerVariable;
  private bias?: tf.LayerVariable;

  constructor(args: Conv3x3LayerArgs) {
    super(args);
    this.filters = args.filters;
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

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
    if (this.kernel === undefined || this.bias === undefined) throw new Error(`${this.name}: called before build`);
    return this.convolve(x, this.kernel.read() as tf.Tensor4D, this.bias.read() as tf.Tensor1D);
  }

  /** The layer's function of its input, kernel [3, 3, in, filters] and bias [filters]. */
  protected abstract convolve(x: tf.Tensor4D, kernel: tf.Tensor4D, bias: tf.Tensor1D): tf.Tensor;

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), filters: this.filters };
  }
}
