import * as tf from '@tensorflow/tfjs';
import { Conv3x3Layer, type Conv3x3LayerArgs } from './conv3x3-layer';

/**
 * The generator's block head, nearest-neighbour upsampling ×s then a 3×3 'same' convolution, as sub-pixel
 * convolutions over the small input. Output pixel (s·i + a, s·j + c) of the upsampled conv reads the small
 * input only at rows i + ⌊(a + t − 1)/s⌋ for its taps t = 0, 1, 2: rows {i − 1, i} for phase a = 0,
 * {i, i + 1} for a = s − 1 (the edge phases: a 2-row window of the input padded by 1, at row i + e(a),
 * e(a) = 1 for the last phase), and row i alone for the middle phases (s ≥ 3: one row, no padding), with the
 * 3×3 filter's taps summed where they land on the same small pixel (per axis, for s = 2: phase 0 reads
 * (w0, w1 + w2), phase 1 (w0 + w1, w2); a middle phase reads w0 + w1 + w2). The same holds per column. So the
 * s² phases fall into (at most) four groups by window shape, each ONE convolution with (phases) × filters
 * outputs: edge rows × edge columns (2×2, the only group for s = 2), edge × middle (2×1), middle × edge
 * (1×2), middle × middle (1×1); then an interleave of the groups' phases:
 *
 *   z_g = conv2d(x, groupFilter_g(w), pad 1 on the edge axes) + bias   [b, h (+1), w (+1), phases_g·co]
 *   y[b, s·i + a, s·j + c, k] = z_g[b, i + e(a), j + e(c), p·co + k]  (g and p: the group and place of phase (a, c))
 *
 * The same function as the two layers, in 4·(h+1)² (s = 2) or 16(h+1)² + 8(s−2)(h+1)h + (s−2)²h²
 * multiply-adds per channel pair and input map instead of 9·s²·h²: 0.56 of them at h = 8, s = 2, and 0.32
 * for the 96 px model's ×3 block (h = 32), in the forward pass and both gradients, with no upsampled tensor.
 * Backends opt in by registering the kernels below (attributes `scale` and `group`; the engine does for wasm
 * and webgpu); elsewhere the layer runs the stock ops.
 */
export const SUB_PIXEL_FILTER = 'FaceganSubPixelFilter';
export const SUB_PIXEL_FILTER_GRAD = 'FaceganSubPixelFilterGrad';
export const PHASE_INTERLEAVE = 'FaceganPhaseInterleave';
export const PHASE_DEINTERLEAVE = 'FaceganPhaseDeinterleave';
export const SUB_PIXEL_KERNELS = [SUB_PIXEL_FILTER, SUB_PIXEL_FILTER_GRAD, PHASE_INTERLEAVE, PHASE_DEINTERLEAVE] as const;

/** Where a phase sits along one axis: an edge one (the first or last) or a middle one, its place in that list, and its window's offset. */
export interface PhaseAxis {
  /** A 2-tap window over the input padded by 1; else one tap, no padding. */
  edge: boolean;
  /** Its place among the edge phases (0, 1) or the middle ones (0 … s − 3). */
  index: number;
  /** How many phases share its kind: 2 edge, s − 2 middle. */
  count: number;
  /** The window's first row (column) in the (padded) input, less i: e(a), 1 for the last phase, else 0. */
  offset: number;
}

export function phaseAxis(scale: number, phase: number): PhaseAxis {
  if (phase === 0) return { edge: true, index: 0, count: 2, offset: 0 };
  if (phase === scale - 1) return { edge: true, index: 1, count: 2, offset: 1 };
  return { edge: false, index: phase - 1, count: scale - 2, offset: 0 };
}

/** The phases along one axis of a kind: [0, s − 1] edge, [1 … s − 2] middle. */
export function axisPhases(scale: number, edge: boolean): number[] {
  return edge ? [0, scale - 1] : Array.from({ length: Math.max(0, scale - 2) }, (_, i) => i + 1);
}

/** The window tap (0 or 1) along an axis that the 3×3 filter's tap `tap` is summed into, for phase `phase`. */
export function subPixelTap(scale: number, phase: number, tap: number): number {
  const axis = phaseAxis(scale, phase);
  return axis.edge ? Math.floor((phase + tap - 1) / scale) + 1 - axis.offset : 0;
}

/** One group's convolution: 0 edge × edge (2×2), 1 edge rows × middle columns (2×1), 2 middle × edge (1×2), 3 middle × middle (1×1). */
export interface PhaseGroup {
  group: number;
  rowEdge: boolean;
  colEdge: boolean;
  /** Its phases along rows and columns (phases = rows × cols; a phase (a, c) is output block p = index(a)·cols + index(c)). */
  rows: number;
  cols: number;
  filterHeight: number;
  filterWidth: number;
  pad: [[number, number], [number, number], [number, number], [number, number]];
}

export function phaseGroup(scale: number, group: number): PhaseGroup {
  const rowEdge = group < 2;
  const colEdge = group % 2 === 0;
  const padRows = rowEdge ? 1 : 0;
  const padCols = colEdge ? 1 : 0;
  return {
    group,
    rowEdge,
    colEdge,
    rows: axisPhases(scale, rowEdge).length,
    cols: axisPhases(scale, colEdge).length,
    filterHeight: rowEdge ? 2 : 1,
    filterWidth: colEdge ? 2 : 1,
    pad: [[0, 0], [padRows, padRows], [padCols, padCols], [0, 0]],
  };
}

/** The groups with phases: the 2×2 one for s = 2, all four from s = 3. */
export function phaseGroups(scale: number): PhaseGroup[] {
  return [0, 1, 2, 3].map((group) => phaseGroup(scale, group)).filter((g) => g.rows * g.cols > 0);
}

/** The group of phase (a, c). */
export function phaseGroupOf(scale: number, a: number, c: number): number {
  return (phaseAxis(scale, a).edge ? 0 : 2) + (phaseAxis(scale, c).edge ? 0 : 1);
}

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
  const groups = phaseGroups(scale);
  const filters = groups.map((g) => run(SUB_PIXEL_FILTER, { filter: kernel }, { scale, group: g.group }) as tf.Tensor4D);
  const phases: tf.NamedTensorMap = {};
  groups.forEach((g, i) => {
    phases[`g${g.group}`] = tf.fused.conv2d({ x, filter: filters[i], strides: 1, pad: g.pad, bias: tf.tile(bias, [g.rows * g.cols]) });
  });
  const value = run(PHASE_INTERLEAVE, phases, { scale }) as tf.Tensor4D;
  save([x, ...filters]);
  return {
    value,
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
      const [input, ...savedFilters] = saved as tf.Tensor4D[];
      const dxs: tf.Tensor[] = [];
      const dKernels: tf.Tensor[] = [];
      groups.forEach((g, i) => {
        const attrs = { scale, group: g.group };
        const dPhases = run(PHASE_DEINTERLEAVE, { dy: dy as tf.Tensor4D }, attrs) as tf.Tensor4D;
        dxs.push(tf.conv2dTranspose(dPhases, savedFilters[i], input.shape, 1, g.pad as unknown as number));
        const dFilter = tf.engine().runKernel(
          tf.Conv2DBackpropFilter,
          { x: input, dy: dPhases },
          { strides: 1, pad: g.pad, dataFormat: 'NHWC', filterShape: savedFilters[i].shape } as unknown as tf.NamedAttrMap,
        ) as tf.Tensor4D;
        dKernels.push(run(SUB_PIXEL_FILTER_GRAD, { dFilter }, attrs));
      });
      const sum = (tensors: tf.Tensor[]) => (tensors.length === 1 ? tensors[0] : tf.addN(tensors));
      return [sum(dxs), sum(dKernels), tf.sum(dy as tf.Tensor4D, [0, 1, 2])];
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
