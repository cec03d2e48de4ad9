import * as tf from '@tensorflow/tfjs';
import { Conv3x3Layer, type Conv3x3LayerArgs } from './conv3x3-layer';

/**
 * The generator's block head, nearest-neighbour upsampling ×s then a 3×3 'same' convolution, as one
 * sub-pixel convolution over the small input. Output pixel (s·i + a, s·j + c) of the upsampled conv
 * reads the small input only at rows i + ⌊(a + t − 1)/s⌋ for its taps t = 0, 1, 2: rows {i − 1, i} for
 * phase a = 0, {i, i + 1} for a = s − 1, row i alone between (s ≥ 3). So each phase is a 2×2 window of
 * the small input, padded by 1, at row i + e(a) of the padded grid (e(a) = 1 for the last phase, else
 * 0), with the 3×3 filter's taps summed where they land on the same small pixel (per axis, for s = 2:
 * phase 0 reads (w0, w1 + w2), phase 1 (w0 + w1, w2); a middle phase reads (0, w0 + w1 + w2)). All s²
 * phases are ONE 2×2 convolution with s² × filters outputs, followed by an interleave of the phases:
 *
 *   z = conv2d(x, subPixelFilter(w), pad 1) + bias (×s²)  [b, h + 1, w + 1, s²·co]
 *   y[b, s·i + a, s·j + c, k] = z[b, i + e(a), j + e(c), (s·a + c)·co + k]
 *
 * The same function as the two layers, in 4·s²·(h+1)·(w+1) multiply-adds per input channel and filter
 * instead of 9·s²·h·w: about half at 16×16 inputs (4/9 as h grows; for s = 3 a middle phase's zero taps
 * are multiplied too), in the forward pass and both gradients, and no upsampled tensor. Backends opt in
 * by registering the kernels below (attribute `scale`; the engine does for wasm and webgpu); elsewhere
 * the layer runs the stock ops.
 */
export const SUB_PIXEL_FILTER = 'FaceganSubPixelFilter';
export const SUB_PIXEL_FILTER_GRAD = 'FaceganSubPixelFilterGrad';
export const PHASE_INTERLEAVE = 'FaceganPhaseInterleave';
export const PHASE_DEINTERLEAVE = 'FaceganPhaseDeinterleave';
export const SUB_PIXEL_KERNELS = [SUB_PIXEL_FILTER, SUB_PIXEL_FILTER_GRAD, PHASE_INTERLEAVE, PHASE_DEINTERLEAVE] as const;

/** The row (or column) offset e(a) of phase `phase`'s 2×2 window in the padded input: 1 for the last phase. */
export function subPixelPhaseOffset(scale: number, phase: number): number {
  return phase === scale - 1 ? 1 : 0;
}

/** The tap (0 or 1) of phase `phase`'s 2×2 window that the 3×3 filter's tap `tap` (0, 1 or 2) is summed into, per axis. */
export function subPixelTap(scale: number, phase: number, tap: number): number {
  return Math.floor((phase + tap - 1) / scale) + 1 - subPixelPhaseOffset(scale, phase);
}

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
const subPixelUpsampleConv = (x: tf.Tensor4D, kernel: tf.Tensor4D, bias: tf.Tensor1D, scale: number) => tf.customGrad((...args: unknown[]) => {
  const [x, kernel, bias, save] = args as [tf.Tensor4D, tf.Tensor4D, tf.Tensor1D, tf.GradSaveFunc];
  const attrs = { scale };
  const filter = run(SUB_PIXEL_FILTER, { filter: kernel }, attrs) as tf.Tensor4D;
  const phases = tf.fused.conv2d({ x, filter, strides: 1, pad: PAD, bias: tf.tile(bias, [scale * scale]) });
  const value = run(PHASE_INTERLEAVE, { x: phases }, attrs) as tf.Tensor4D;
  save([x, filter]);
  return {
    value,
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
      const [input, savedFilter] = saved as [tf.Tensor4D, tf.Tensor4D];
      const dPhases = run(PHASE_DEINTERLEAVE, { dy: dy as tf.Tensor4D }, attrs) as tf.Tensor4D;
      const dx = tf.conv2dTranspose(dPhases, savedFilter, input.shape, 1, PAD as unknown as number);
      const dFilter = tf.engine().runKernel(
        tf.Conv2DBackpropFilter,
        { x: input, dy: dPhases },
        { strides: 1, pad: PAD, dataFormat: 'NHWC', filterShape: savedFilter.shape } as unknown as tf.NamedAttrMap,
      ) as tf.Tensor4D;
      const dKernel = run(SUB_PIXEL_FILTER_GRAD, { dFilter }, attrs);
      return [dx, dKernel, tf.sum(dy as tf.Tensor4D, [0, 1, 2])];
    },
  };
})(x, kernel, bias) as tf.Tensor4D;

/**
 * conv2d(upsample(x, scale), kernel, 'same') + bias for a 3×3 kernel: the sub-pixel form (file comment)
 * when scale is an integer ≥ 2 and the active backend has its kernels, else the stock ops (what
 * UpSampling2D and Conv2D run).
 */
export function upsampleConv2d(x: tf.Tensor4D, kernel: tf.Tensor4D, bias: tf.Tensor1D, scale: number): tf.Tensor4D {
  const [kh, kw] = kernel.shape;
  if (Number.isInteger(scale) && scale >= 2 && kh === 3 && kw === 3 && subPixelKernelsRegistered()) {
    return subPixelUpsampleConv(x, kernel, bias, scale);
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
