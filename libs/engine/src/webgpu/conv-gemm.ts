import * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend, WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';

/**
 * What the three implicit-GEMM convolution kernels (forward, backprop-input, backprop-filter) share:
 * a workgroup of 16×16 threads computes one (16·rowsPerThread)×(16·colsPerThread) tile of C = A·B,
 * staging TILE_K-deep slices of A in tileA[k][row] and of B in tileB[k][column]; thread (tx, ty) owns
 * rows ty + 16·i and columns tx + 16·j, so neighbouring threads read neighbouring workgroup-memory
 * words and write neighbouring output columns.
 */
export const THREADS_PER_SIDE = 16;
export const WORKGROUP_THREADS = THREADS_PER_SIDE * THREADS_PER_SIDE;
export const TILE_K = 16;

/** Outputs per thread along M and N. */
export interface GemmTile {
  rowsPerThread: number;
  colsPerThread: number;
}

/** The grid: x over the tiles of N, y over the tiles of M, z over `layers` (K splits or phases). */
export function gemmDispatch(dimM: number, dimN: number, tile: GemmTile, layers: number): [number, number, number] {
  return [Math.ceil(dimN / (THREADS_PER_SIDE * tile.colsPerThread)), Math.ceil(dimM / (THREADS_PER_SIDE * tile.rowsPerThread)), layers];
}

/**
 * A GEMM program: three dispatch axes over an output of any rank, so the framework emits no
 * getOutputCoords and calls main() without an index; the shader indexes the output itself.
 */
export function gemmProgram(
  program: Pick<WebGPUProgram, 'variableNames' | 'outputShape' | 'shaderKey' | 'uniforms' | 'dispatch' | 'getUserCode'>,
): WebGPUProgram {
  return { ...program, dispatchLayout: { x: [0], y: [1], z: [2] }, workgroupSize: [THREADS_PER_SIDE, THREADS_PER_SIDE, 1] };
}

/** The uniforms every convolution GEMM starts with, filled by convUniformData. */
export const CONV_UNIFORMS = 'filterDims : vec2<i32>, pads : vec2<i32>, strides : vec2<i32>,';

export function convUniformData(convInfo: tf.backend_util.Conv2DInfo): Array<{ type: string; data: number[] }> {
  return [
    { type: 'int32', data: [convInfo.filterHeight, convInfo.filterWidth] },
    { type: 'int32', data: [convInfo.padInfo.top, convInfo.padInfo.left] },
    { type: 'int32', data: [convInfo.strideHeight, convInfo.strideWidth] },
  ];
}

/** Strides and padding of a convolution, as its kernel attributes give them. */
export interface ConvGeometry {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

/** Conv2DInfo of a channels-last convolution with dilation 1. */
export function channelsLastConvInfo(xShape: number[], filterShape: number[], geometry: ConvGeometry): tf.backend_util.Conv2DInfo {
  type Shape4D = [number, number, number, number];
  const { strides, pad, dimRoundingMode } = geometry;
  return tf.backend_util.computeConv2DInfo(xShape as Shape4D, filterShape as Shape4D, strides, 1, pad, dimRoundingMode, false, 'channelsLast');
}

export const range = (count: number): number[] => Array.from({ length: count }, (_, i) => i);

/** WGSL: the thread's coordinates (tx, ty, flat) and its tile's first row and column (mBase, nBase). */
export function gemmTileOrigin(tile: GemmTile): string {
  return `
        let tx = i32(localId.x);
        let ty = i32(localId.y);
        let flat = ty * ${THREADS_PER_SIDE} + tx;
        let mBase = i32(workgroupId.y) * ${THREADS_PER_SIDE * tile.rowsPerThread};
        let nBase = i32(workgroupId.x) * ${THREADS_PER_SIDE * tile.colsPerThread};`;
}

/** WGSL: the thread's accumulators acc{i}_{j}, zeroed. */
export function gemmAccumulators(tile: GemmTile): string {
  return range(tile.rowsPerThread)
    .map((i) => range(tile.colsPerThread).map((j) => `var acc${i}_${j} = 0.0;`).join(' '))
    .join('\n');
}

/** WGSL: adds the staged slices' product tileA·tileB to the accumulators. */
export function gemmMultiplyStaged(tile: GemmTile): string {
  const rows = range(tile.rowsPerThread);
  const cols = range(tile.colsPerThread);
  return `
          for (var kk = 0; kk < ${TILE_K}; kk++) {
            ${rows.map((i) => `let a${i} = tileA[kk][ty + ${16 * i}];`).join(' ')}
            ${cols.map((j) => `let b${j} = tileB[kk][tx + ${16 * j}];`).join(' ')}
            ${rows.map((i) => cols.map((j) => `acc${i}_${j} = fma(a${i}, b${j}, acc${i}_${j});`).join(' ')).join('\n')}
          }`;
}

/** Whether a grid fits the device's limit on workgroups per dimension. */
export function dispatchFits(backend: WebGPUBackend, dispatch: [number, number, number]): boolean {
  const limit = backend.device.limits.maxComputeWorkgroupsPerDimension;
  return dispatch.every((d) => d <= limit);
}
