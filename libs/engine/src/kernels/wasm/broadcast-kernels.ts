/**
 * Fast paths for the per-channel reductions and broadcasts that BatchNormalization (forward moments,
 * and the FusedBatchNorm / bias gradients) runs on NHWC activations:
 *
 * - Sum / Mean over the leading axes ([0, 1, 2] of [b, h, w, c]). The stock wasm kernels first
 *   transpose the input so the reduced axes are innermost, through the slow generic Transpose; here a
 *   column sum over the row-major [b*h*w, c] view does it (channelSums: XNNPACK's average pooling per
 *   image, then float64 sums over the images).
 * - Tile of a [1, 1, 1, c] tensor to [b, h, w, c] (the FusedBatchNorm gradient does this): when
 *   only leading unit axes are repeated, the output is the input block repeated end to end, which
 *   doubling copies (copyWithin) fill at memcpy speed instead of per-element index math.
 *
 * Anything else goes to the stock kernel.
 */
import { AvgPool, Mean, Sum, Tile, util, type KernelConfig, type KernelFunc, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { heapView, withScratch, type Scratch } from './compose';

/** The [rows, cols] view when `axis` reduces exactly a leading, proper prefix of the axes; else null. */
export function leadingReduction(
  shape: readonly number[],
  axis: number | number[],
): { reducedAxes: number; rows: number; cols: number } | null {
  const axes = util.parseAxisParam(axis, shape as number[]).sort((a, b) => a - b);
  if (axes.length === 0 || axes.length >= shape.length) return null;
  if (axes.some((a, i) => a !== i)) return null;
  const reducedAxes = axes.length;
  return {
    reducedAxes,
    rows: util.sizeFromShape(shape.slice(0, reducedAxes) as number[]),
    cols: util.sizeFromShape(shape.slice(reducedAxes) as number[]),
  };
}

/**
 * Column sums of the row-major [rows, cols] `src`, in float64. Four rows per pass: one accumulator
 * update per four loads roughly halves the time of the plain loop (V8 does not vectorise either).
 */
export function columnSums(src: Float32Array, rows: number, cols: number): Float64Array {
  const acc = new Float64Array(cols);
  const quad = rows - (rows % 4);
  for (let base = 0, end = quad * cols; base < end; base += 4 * cols) {
    for (let c = 0, i = base; c < cols; c++, i++) {
      acc[c] += src[i] + src[i + cols] + (src[i + 2 * cols] + src[i + 3 * cols]);
    }
  }
  for (let base = quad * cols, end = rows * cols; base < end; base += cols) {
    for (let c = 0; c < cols; c++) acc[c] += src[base + c];
  }
  return acc;
}

/** Rows per pooling window: below MIN the JavaScript column sums are as fast; MAX bounds the float32 sums. */
const MIN_POOLED_WINDOW = 16;
const MAX_POOLED_WINDOW = 1024;

/** The largest divisor of `rows` up to MAX_POOLED_WINDOW. */
export function poolingWindow(rows: number): number {
  for (let groups = Math.ceil(rows / MAX_POOLED_WINDOW); groups < rows; groups++) {
    if (rows % groups === 0) return rows / groups;
  }
  return 1;
}

/**
 * Per-channel sums (float64) of a float32 tensor read as row-major [rows, cols]. The rows are cut
 * into equal windows of at most 1,024 that XNNPACK's average pooling averages (SIMD and threaded:
 * 5-10x the JavaScript column sums on 1M floats, measured 2026-11-26); the window means are then
 * summed in float64. So float32 sums run over at most one window.
 */
export function channelSums(scratch: Scratch, x: TensorInfo, rows: number, cols: number): Float64Array {
  const window = poolingWindow(rows);
  if (window < MIN_POOLED_WINDOW) return columnSums(heapView(scratch.backend, x), rows, cols);
  const groups = rows / window;
  const attrs = { filterSize: [window, 1], strides: 1, pad: 'valid' } as unknown as NamedAttrMap;
  const means = scratch.run(AvgPool, { x: scratch.view(x, 0, [groups, window, 1, cols]) }, attrs);
  const acc = columnSums(heapView(scratch.backend, means), groups, cols);
  for (let c = 0; c < cols; c++) acc[c] *= window;
  return acc;
}

function createReductionKernel(kernelName: typeof Sum | typeof Mean, fallback: KernelFunc | undefined): KernelConfig {
  const kernelFunc: KernelFunc = (args) => {
    const backend = args.backend as BackendWasm;
    const { x } = args.inputs as { x: TensorInfo };
    const { axis, keepDims } = args.attrs as { axis: number | number[]; keepDims: boolean };
    const plan = x.dtype === 'float32' ? leadingReduction(x.shape, axis) : null;
    if (plan === null) {
      if (fallback === undefined) throw new Error(`wasm ${kernelName}: no stock kernel to fall back to`);
      return fallback(args);
    }
    const { reducedAxes, rows, cols } = plan;
    const kept = x.shape.slice(reducedAxes);
    const outShape = keepDims ? [...Array<number>(reducedAxes).fill(1), ...kept] : kept;
    const out = backend.makeOutput(outShape, 'float32');
    const acc = withScratch(backend, (scratch) => channelSums(scratch, x, rows, cols));
    const scale = kernelName === Mean ? 1 / rows : 1;
    const dst = heapView(backend, out);
    for (let c = 0; c < cols; c++) dst[c] = acc[c] * scale;
    return out;
  };
  return { kernelName, backendName: 'wasm', kernelFunc };
}

export function createSumKernel(fallback: KernelFunc | undefined): KernelConfig {
  return createReductionKernel(Sum, fallback);
}

export function createMeanKernel(fallback: KernelFunc | undefined): KernelConfig {
  return createReductionKernel(Mean, fallback);
}

/** True when tiling `shape` by `reps` just repeats the whole input block end to end. */
export function isBlockRepeat(shape: readonly number[], reps: readonly number[]): boolean {
  let seenNonUnit = false;
  for (let i = 0; i < shape.length; i++) {
    if (reps[i] > 1 && seenNonUnit) return false;
    if (shape[i] !== 1) seenNonUnit = true;
  }
  return true;
}

export function createTileKernel(fallback: KernelFunc | undefined): KernelConfig {
  const kernelFunc: KernelFunc = (args) => {
    const backend = args.backend as BackendWasm;
    const { x } = args.inputs as { x: TensorInfo };
    const { reps } = args.attrs as { reps: number[] };
    if (x.dtype !== 'float32' || reps.length !== x.shape.length || !isBlockRepeat(x.shape, reps)) {
      if (fallback === undefined) throw new Error('wasm Tile: no stock kernel to fall back to');
      return fallback(args);
    }
    const out = backend.makeOutput(
      x.shape.map((d, i) => d * reps[i]),
      'float32',
    );
    const block = util.sizeFromShape(x.shape);
    const total = util.sizeFromShape(out.shape);
    const dst = heapView(backend, out);
    if (total === 0) return out;
    dst.set(heapView(backend, x));
    for (let filled = block; filled < total; filled *= 2) {
      dst.copyWithin(filled, 0, Math.min(filled, total - filled));
    }
    return out;
  };
  return { kernelName: Tile, backendName: 'wasm', kernelFunc };
}
