import * as tf from '@tensorflow/tfjs';
import { Conv3x3Layer, type Conv3x3LayerArgs } from './conv3x3-layer';

/**
 * The generator's block head, nearest-neighbour upsampling ×2 then a 3×3 'same' convolution, as one
 * sub-pixel convolution over the small input. Output pixel (2i + a, 2j + c) of the upsampled conv
 * reads the small input only at rows {i - 1 + a, i + a} and columns {j - 1 + c, j + c}, with the
 * 3×3 filter's taps summed where they land on the same small pixel (per axis: phase 0 reads
 * (w0, w1 + w2), phase 1 (w0 + w1, w2)). So all four phases are ONE 2×2 convolution of the small
 * input, padded by 1, with 4 × filters outputs, followed by an interleave of the phases:
 *
 *   z = conv2d(x, subPixelFilter(w), pad 1) + bias (×4)  [b, h + 1, w + 1, 4·co]
 *   y[b, 2i + a, 2j + c, k] = z[b, i + a, j + c, (2a + c)·co + k]
 *
 * The same function as the two layers, in 16·(h+1)·(w+1) multiply-adds per input channel and filter
 * instead of 36·h·w: about half at 16×16 inputs (4/9 as h grows), in the forward pass and both
 * gradients, and no upsampled tensor. Backends opt in by registering the three data-movement kernels
 * below (the engine does for wasm); elsewhere, and for other scales, the layer runs the stock ops.
 */
export const SUB_PIXEL_FILTER = 'FaceganSubPixelFilter';
export const SUB_PIXEL_FILTER_GRAD = 'FaceganSubPixelFilterGrad';
export const PHASE_INTERLEAVE = 'FaceganPhaseInterleave';
export const PHASE_DEINTERLEAVE = 'FaceganPhaseDeinterleave';
export const SUB_PIXEL_KERNELS = [SUB_PIXEL_FILTER, SUB_PIXEL_FILTER_GRAD, PHASE_INTERLEAVE, PHASE_DEINTERLEAVE] as const;

/** Taps of the 3-tap filter axis that phase `phase` (0 or 1) sums into its tap `tap` (0 or 1). */
export const SUB_PIXEL_TAPS: readonly (readonly (readonly number[])[])[] = [
  [[0], [1, 2]],
  [[0, 1], [2]],
];

const PAD = [[0, 0], [1, 1], [1, 1], [0, 0]] as [[number, number], [number, number], [number, number], [number, number]];

export function subPixelKernelsRegistered(backendName = tf.getBackend()): boolean {
  return SUB_PIXEL_KERNELS.every((name) => tf.getKernel(name, backendName) !== undefined);
}

const run = (kernelName: string, inputs: tf.NamedTensorMap, attrs: object = {}) =>
  tf.engine().runKernel(kernelName, inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;

/**
 * A fresh customGrad per call: tfjs's customGrad keeps the last forward call's result in a closure
 * shared by every call of the same function, which several layers would share.
 */
const subPixelUpsampleConv = (x: tf.Tensor4D, kernel: tf.Tensor4D, bias: tf.Tensor1D) => tf.customGrad((...args: unknown[]) => {
  const [x, kernel, bias, save] = args as [tf.Tensor4D, tf.Tensor4D, tf.Tensor1D, tf.GradSaveFunc];
  const filter = run(SUB_PIXEL_FILTER, { filter: kernel }) as tf.Tensor4D;
  const phases = tf.fused.conv2d({ x, filter, strides: 1, pad: PAD, bias: tf.tile(bias, [4]) });
  const value = run(PHASE_INTERLEAVE, { x: phases }) as tf.Tensor4D;
  save([x, filter]);
  return {
    value,
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
      const [input, savedFilter] = saved as [tf.Tensor4D, tf.Tensor4D];
      const dPhases = run(PHASE_DEINTERLEAVE, { dy: dy as tf.Tensor4D }) as tf.Tensor4D;
      const dx = tf.conv2dTranspose(dPhases, savedFilter, input.shape, 1, PAD as unknown as number);
      const dFilter = tf.engine().runKernel(
        tf.Conv2DBackpropFilter,
        { x: input, dy: dPhases },
        { strides: 1, pad: PAD, dataFormat: 'NHWC', filterShape: savedFilter.shape } as unknown as tf.NamedAttrMap,
      ) as tf.Tensor4D;
      const dKernel = run(SUB_PIXEL_FILTER_GRAD, { dFilter });
      return [dx, dKernel, tf.sum(dy as tf.Tensor4D, [0, 1, 2])];
    },
  };
})(x, kernel, bias) as tf.Tensor4D;

/**
 * conv2d(upsample(x, scale), kernel, 'same') + bias for a 3×3 kernel: the sub-pixel form (file comment)
 * when scale is 2 and the active backend has its kernels, else the stock ops (what UpSampling2D and
 * Conv2D run).
 */
export function upsampleConv2d(x: tf.Tensor4D, kernel: tf.Tensor4D, bias: tf.Tensor1D, scale: number): tf.Tensor4D {
  const [kh, kw] = kernel.shape;
  if (scale === 2 && kh === 3 && kw === 3 && subPixelKernelsRegistered()) {
    return subPixelUpsampleConv(x, kernel, bias);
  }
  return tf.tidy(() => {
    const [, h, w] = x.shape;
    const upsampled = tf.image.resizeNearestNeighbor(x, [h * scale, w * scale]);
    return tf.fused.conv2d({ x: upsampled, filter: kernel, strides: 1, pad: 'same', bias });
  });
}

export interface UpsampleConv2DArgs extends Conv3x3LayerArgs {
  /** The upsampling factor (nearest neighbour). */
  size: number;
}

/**
 * UpSampling2D({ size }) then Conv2D({ filters, kernelSize: 3, padding: 'same' }) as one layer, with
 * the Conv2D's weights (Conv3x3Layer): a model built with it holds the same weights in the same order as
 * one built with the two layers.
 */
export class UpsampleConv2D extends Conv3x3Layer {
  static readonly className = 'FaceganUpsampleConv2D';
  readonly size: number;

  constructor(args: UpsampleConv2DArgs) {
    super(args);
    this.size = args.size;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const [batch, h, w] = inputShape as tf.Shape;
    return [batch, h === null ? null : h * this.size, w === null ? null : w * this.size, this.filters];
  }

  protected override convolve(x: tf.Tensor4D, kernel: tf.Tensor4D, bias: tf.Tensor1D): tf.Tensor {
    return upsampleConv2d(x, kernel, bias, this.size);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), size: this.size };
  }
}
tf.serialization.registerClass(UpsampleConv2D);
