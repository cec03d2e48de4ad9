import * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend, WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';
import { webGpuKernelWithFallback } from './webgpu-kernel';

/**
 * Sum and Mean over leading axes (keeping the trailing ones) without a transpose: the batch-norm
 * statistics (mean and variance over [N, H, W] of an NHWC activation), the bias gradients (Σ dy over
 * [N, H, W]) and the batch-norm gradients all reduce that way. tfjs-backend-webgpu first transposes
 * the reduced axes innermost (a full copy of the activation) and then reduces each output with one
 * workgroup (too few for a large GPU: 128 workgroups over 67 M elements at 64 px, batch 128): Sum and
 * Mean took 31 ms of a 325 ms step on an H200.
 *
 * Here x is viewed as [R, C] (R = the product of the reduced leading axes). Pass 1: a 256-thread
 * workgroup owns a block of columns (coalesced loads along C) and a slice of the rows; its lanes
 * stride over the slice and are summed in workgroup memory into partials [S, C]. Pass 2 sums the S
 * partials per column and scales (1/R for Mean). One pass when the rows need no split.
 */

const WORKGROUP_THREADS = 256;
/** About this many workgroups in pass 1: enough to fill a large GPU. */
const TARGET_WORKGROUPS = 1024;
/** Each split covers at least this many rows, or pass 2 costs more than it saves. */
const MIN_ROWS_PER_SPLIT = 64;

export interface ColumnReducePlan {
  rows: number;
  cols: number;
  /** Columns one workgroup covers (a power of two ≤ 64); the rest of its 256 threads are row lanes. */
  colsPerWorkgroup: number;
  splits: number;
  rowsPerSplit: number;
}

/**
 * The plan of pass 2, which sums the S partials of each column: few rows, so the workgroup's lanes go to the rows
 * (about 4 rows a lane, then the tree in workgroup memory) rather than to columns. One thread a column summing S
 * partials in turn waits S times for memory: 66 such sums took 1.4 ms of a 64 px step on the H200 (2026-11-27).
 */
export function planPartialsSum(splits: number, cols: number): ColumnReducePlan {
  const lanesWanted = Math.min(WORKGROUP_THREADS, nextPowerOfTwo(Math.ceil(splits / 4)));
  const colsPerWorkgroup = Math.max(1, Math.min(64, nextPowerOfTwo(cols), WORKGROUP_THREADS / lanesWanted));
  return { rows: splits, cols, colsPerWorkgroup, splits: 1, rowsPerSplit: splits };
}

function nextPowerOfTwo(n: number): number {
  let power = 1;
  while (power < n) power *= 2;
  return power;
}

export function planColumnReduce(rows: number, cols: number, splits?: number): ColumnReducePlan {
  const colsPerWorkgroup = nextPowerOfTwo(Math.min(cols, 64));
  const colBlocks = Math.ceil(cols / colsPerWorkgroup);
  const wanted = splits ?? Math.min(Math.ceil(TARGET_WORKGROUPS / colBlocks), Math.ceil(rows / MIN_ROWS_PER_SPLIT));
  const rowsPerSplit = Math.ceil(rows / Math.max(1, Math.min(wanted, rows)));
  return { rows, cols, colsPerWorkgroup, splits: Math.ceil(rows / rowsPerSplit), rowsPerSplit };
}

/**
 * What pass 1 sums per column c of row r: 'x' is x[r, c]; 'centredSquare' is (x[r, c] − mean[c])² (inputs x,
 * mean); 'batchNormGrad' is two sums at once, dy[r, c] and dy[r, c]·(x[r, c] − mean[c]) (inputs x, mean, dy),
 * written as rows 0 and 1 of [2, C].
 */
export type ColumnSumMode = 'x' | 'centredSquare' | 'batchNormGrad';

const MODE_INPUTS: Record<ColumnSumMode, string[]> = { x: ['x'], centredSquare: ['x', 'mean'], batchNormGrad: ['x', 'mean', 'dy'] };

class ColumnPartialSumProgram implements WebGPUProgram {
  variableNames: string[];
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [0], y: [1], z: [2] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [WORKGROUP_THREADS, 1, 1];
  uniforms = 'rows : i32, cols : i32, rowsPerSplit : i32, scale : f32,';
  private readonly colsPerWorkgroup: number;
  private readonly mode: ColumnSumMode;

  constructor(plan: ColumnReducePlan, outputShape: number[], mode: ColumnSumMode = 'x') {
    this.outputShape = outputShape;
    this.colsPerWorkgroup = plan.colsPerWorkgroup;
    this.mode = mode;
    this.variableNames = MODE_INPUTS[mode];
    this.dispatch = [Math.ceil(plan.cols / plan.colsPerWorkgroup), plan.splits, 1];
    this.shaderKey = `faceganColumnPartialSum_${mode}_${plan.colsPerWorkgroup}`;
  }

  getUserCode(): string {
    const lanes = WORKGROUP_THREADS / this.colsPerWorkgroup;
    const sums = this.mode === 'batchNormGrad' ? ['sum0', 'sum1'] : ['sum0'];
    const accumulate = {
      x: 'sum0 += x[row * uniforms.cols + col];',
      centredSquare: `let d = x[row * uniforms.cols + col] - centre;
            sum0 += d * d;`,
      batchNormGrad: `let at = row * uniforms.cols + col;
            let g = dy[at];
            sum0 += g;
            sum1 += g * (x[at] - centre);`,
    }[this.mode];
    const reduceSteps: string[] = [];
    for (let stride = lanes / 2; stride >= 1; stride /= 2) {
      reduceSteps.push(`
        if (lane < ${stride}) {
          ${sums.map((_, i) => `partial${i}[local] += partial${i}[local + ${stride * this.colsPerWorkgroup}];`).join(' ')}
        }
        workgroupBarrier();`);
    }
    return `
      ${sums.map((_, i) => `var<workgroup> partial${i} : array<f32, ${WORKGROUP_THREADS}>;`).join('\n')}

      fn main() {
        let local = i32(localId.x);
        let col = i32(workgroupId.x) * ${this.colsPerWorkgroup} + local % ${this.colsPerWorkgroup};
        let lane = local / ${this.colsPerWorkgroup};
        let rowBegin = i32(workgroupId.y) * uniforms.rowsPerSplit;
        let rowEnd = min(rowBegin + uniforms.rowsPerSplit, uniforms.rows);
        ${sums.map((name) => `var ${name} = 0.0;`).join(' ')}
        if (col < uniforms.cols) {
          ${this.mode === 'x' ? '' : 'let centre = mean[col];'}
          for (var row = rowBegin + lane; row < rowEnd; row += ${lanes}) {
            ${accumulate}
          }
        }
        ${sums.map((name, i) => `partial${i}[local] = ${name};`).join(' ')}
        workgroupBarrier();
        ${reduceSteps.join('')}
        if (lane == 0 && col < uniforms.cols) {
          let base = i32(workgroupId.y) * ${sums.length} * uniforms.cols + col;
          ${sums.map((_, i) => `result[base + ${i} * uniforms.cols] = partial${i}[local] * uniforms.scale;`).join(' ')}
        }
      }
    `;
  }
}

/**
 * Σ (or mean) of x [R, ...trailing] over its leading `reducedAxes` axes, output in `outputShape`
 * (the trailing shape, with or without kept 1s). `splits` forces the row split (tests).
 */
export function columnReduce(
  backend: WebGPUBackend,
  x: tf.TensorInfo,
  reducedAxes: number,
  outputShape: number[],
  mean: boolean,
  splits?: number,
): tf.TensorInfo {
  return columnSums(backend, [x], 'x', reducedAxes, outputShape, mean ? 'mean' : 'sum', splits);
}

/** The batch variance per channel, mean of (x − mean)² over x [R, C]'s rows, given the mean [C] (tf.moments' second pass in one). */
export function batchVariance(backend: WebGPUBackend, x: tf.TensorInfo, mean: tf.TensorInfo, splits?: number): tf.TensorInfo {
  const channels = x.shape[x.shape.length - 1];
  return columnSums(backend, [x, mean], 'centredSquare', x.shape.length - 1, [channels], 'mean', splits);
}

/**
 * The two per-channel sums of the batch-norm gradient in one pass over x and dy [R, C]:
 * [Σ dy, Σ dy·(x − mean)] as a [2, C] tensor. `splits` forces the row split (tests).
 */
export function batchNormGradSums(
  backend: WebGPUBackend,
  x: tf.TensorInfo,
  mean: tf.TensorInfo,
  dy: tf.TensorInfo,
  splits?: number,
): tf.TensorInfo {
  const channels = x.shape[x.shape.length - 1];
  return columnSums(backend, [x, mean, dy], 'batchNormGrad', x.shape.length - 1, [2, channels], 'sum', splits);
}

function columnSums(
  backend: WebGPUBackend,
  inputs: tf.TensorInfo[],
  mode: ColumnSumMode,
  reducedAxes: number,
  outputShape: number[],
  kind: 'sum' | 'mean',
  splits?: number,
): tf.TensorInfo {
  const shape = inputs[0].shape;
  const rows = shape.slice(0, reducedAxes).reduce((a, b) => a * b, 1);
  const cols = shape.slice(reducedAxes).reduce((a, b) => a * b, 1);
  const outputsPerCol = mode === 'batchNormGrad' ? 2 : 1;
  const plan = planColumnReduce(rows, cols, splits);
  const scale = kind === 'mean' ? 1 / rows : 1;
  const uniforms = (pass: ColumnReducePlan, applied: number) => [
    { type: 'int32', data: [pass.rows] },
    { type: 'int32', data: [pass.cols] },
    { type: 'int32', data: [pass.rowsPerSplit] },
    { type: 'float32', data: [applied] },
  ];
  if (plan.splits === 1) {
    return backend.runWebGPUProgram(new ColumnPartialSumProgram(plan, outputShape, mode), inputs, 'float32', uniforms(plan, scale));
  }
  const partials = backend.runWebGPUProgram(
    new ColumnPartialSumProgram(plan, [plan.splits, outputsPerCol * cols], mode),
    inputs,
    'float32',
    uniforms(plan, 1),
  );
  const partialsPlan = planPartialsSum(plan.splits, outputsPerCol * cols);
  const reduced = backend.runWebGPUProgram(new ColumnPartialSumProgram(partialsPlan, outputShape), [partials], 'float32', uniforms(partialsPlan, scale));
  backend.disposeData(partials.dataId);
  return reduced;
}

/**
 * How many leading axes `axis` reduces when it is exactly the leading block 0..k−1 with 1 ≤ k < rank
 * (and the reduction is large enough to be worth it); undefined otherwise (the stock kernel runs).
 */
export function leadingReducedAxes(shape: number[], axis: number | number[]): number | undefined {
  const axes = [...tf.util.parseAxisParam(axis, shape)].sort((a, b) => a - b);
  if (axes.length === 0 || axes.length >= shape.length) return undefined;
  if (!axes.every((a, i) => a === i)) return undefined;
  return axes.length;
}

function columnReduceKernel(kernelName: string, mean: boolean, fallback: tf.KernelConfig | undefined): tf.KernelConfig {
  return webGpuKernelWithFallback<{ x: tf.TensorInfo }>(kernelName, fallback, (args) => {
    const { x } = args.inputs;
    const { axis, keepDims } = args.attrs as unknown as { axis: number | number[]; keepDims: boolean };
    const reduced = x.dtype === 'float32' ? leadingReducedAxes(x.shape, axis) : undefined;
    if (reduced === undefined || tf.util.sizeFromShape(x.shape) === 0) return undefined;
    const outputShape = keepDims ? x.shape.map((size, dim) => (dim < reduced ? 1 : size)) : x.shape.slice(reduced);
    return columnReduce(args.backend as WebGPUBackend, x, reduced, outputShape, mean);
  });
}

export function columnSumKernel(fallback: tf.KernelConfig | undefined): tf.KernelConfig {
  return columnReduceKernel(tf.Sum, false, fallback);
}

export function columnMeanKernel(fallback: tf.KernelConfig | undefined): tf.KernelConfig {
  return columnReduceKernel(tf.Mean, true, fallback);
}
