import * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend, WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';

/**
 * What the three implicit-GEMM convolution kernels (forward, backprop-input, backprop-filter) share:
 * a workgroup of 16×16 threads computes one (16·rowsPerThread)×(16·colsPerThread) tile of C = A·B,
 * staging TILE_K-deep slices of A in tileA[k][row] and of B in tileB[k][column]; thread (tx, ty) owns
 * rows ty + 16·i and columns tx + 16·j (scalar layout; GemmTile.vector for the vec4 one), so
 * neighbouring threads read neighbouring workgroup-memory words and write neighbouring output columns.
 */
export const THREADS_PER_SIDE = 16;
export const WORKGROUP_THREADS = THREADS_PER_SIDE * THREADS_PER_SIDE;
export const TILE_K = 16;

/** Outputs per thread along M and N, and how the staged slices are laid out (gemmTile). */
export interface GemmTile {
  rowsPerThread: number;
  colsPerThread: number;
  /**
   * vec4 workgroup tiles: each thread reads its rows and columns of a staged k as vec4s (rows 4·ty to
   * 4·ty + 3, then 64 further on; the same for columns with tx), a quarter of the workgroup-memory
   * reads (and of their robustness clamps) of the scalar layout. Only where both counts are multiples of 4.
   */
  vector?: boolean;
  /**
   * Register prefetch: each thread reads its share of the next K-tile from global memory into registers
   * before multiplying the staged one, so those reads are in flight during the multiply (gemmMainLoop).
   */
  prefetch?: boolean;
  /**
   * The geometry (image and filter sizes, channels, strides, padding) as constants in the shader instead of
   * uniforms: the compiler then turns the index arithmetic's divisions into multiplies and shifts. One shader
   * per geometry (specializeShader).
   */
  specialize?: boolean;
  /**
   * Two of each workgroup tile: while the threads multiply one, they store the next K-tile (read into registers
   * during the multiply, as with prefetch) into the other, so a K-step takes one barrier instead of two. Twice the
   * workgroup memory (128×128 tiles then lose their padding, to stay within 32 KiB).
   */
  double?: boolean;
}

/** The workgroup memory a GPU may be assumed to give a workgroup (WebGPU's limit tier above the 16 KiB default; lavapipe's and NVIDIA's under Dawn). */
const WORKGROUP_STORAGE_BYTES = 32768;

let vectorTiles = true;
let prefetch = false;
let doubleBuffer = false;

/**
 * Whether the convolution GEMMs planned from now on use vec4 workgroup tiles where they can (GemmTile.vector).
 * On by default since the H200 measured it (2026-11-27, untuned step: 72.3 → 68.6 ms at 64 px, 101.2 → 84.8 ms at
 * 96 px); lavapipe prefers it too. The bench's project-scalar variants turn it off.
 */
export function setGemmVectorTiles(on: boolean): void {
  vectorTiles = on;
}

export function gemmVectorTiles(): boolean {
  return vectorTiles;
}

/** Whether the convolution GEMMs planned from now on prefetch the next K-tile (GemmTile.prefetch). Off by default until a GPU has measured it. */
export function setGemmPrefetch(on: boolean): void {
  prefetch = on;
}

export function gemmPrefetch(): boolean {
  return prefetch;
}

/** Whether the convolution GEMMs planned from now on double their workgroup tiles (GemmTile.double). Off by default: a tuning candidate. */
export function setGemmDoubleBuffer(on: boolean): void {
  doubleBuffer = on;
}

export function gemmDoubleBuffer(): boolean {
  return doubleBuffer;
}

/**
 * One choice among the convolution GEMMs' code variants, for one problem (gemm-tuning.ts times them on the
 * adapter): `large`, 8 outputs per thread along each dimension over 64 (128×128 tiles) whatever the grid;
 * `shape` limits large tiles to 8 outputs per thread along M only ('tall', 128×64) or N only ('wide', 64×128);
 * `vector`, `prefetch` and `specialize` as in GemmTile; `splitScale` (the filter gradient only) scales its split-K count
 * (a uniform and the grid, not the shader: trying it costs no compilation).
 */
export interface GemmVariant {
  large: boolean;
  shape?: 'tall' | 'wide';
  vector: boolean;
  prefetch: boolean;
  splitScale?: number;
  specialize?: boolean;
  double?: boolean;
  /** Not a tiled GEMM: one thread per output element (narrow-conv.ts), for convolutions with ≤ 4 output channels. */
  narrow?: boolean;
  /**
   * Narrow only: the blocked kernels, which read each x value for more outputs (forward: 4 output pixels of a
   * row a thread; filter gradient: 4 input channels a thread, read as a vec4).
   */
  blocked?: boolean;
  /**
   * Narrow only, forward and filter gradient: the convolution as a 1×1 GEMM from x's channels to every filter tap's
   * outputs (a tiled GEMM with N = taps × outChannels, coalesced reads of x), then a sum over the taps; for dW,
   * dy spread to the taps, the 1×1 filter gradient, then rearranged (narrow-conv.ts).
   */
  taps?: boolean;
}

/** The variant that stands for narrow-conv.ts's kernels among the tuning candidates. */
export const NARROW_VARIANT: GemmVariant = { large: false, vector: false, prefetch: false, narrow: true };
export const NARROW_BLOCKED_VARIANT: GemmVariant = { ...NARROW_VARIANT, blocked: true };
export const NARROW_TAPS_VARIANT: GemmVariant = { ...NARROW_VARIANT, taps: true };

/** Whether a variant allows 8 outputs per thread along M (rows) and N (columns). */
export function largeAlong(variant: GemmVariant): { rows: boolean; cols: boolean } {
  return { rows: variant.large && variant.shape !== 'wide', cols: variant.large && variant.shape !== 'tall' };
}

/**
 * A tile of rows × cols outputs per thread, in the layout and main loop `variant` asks for (by default what
 * setGemmVectorTiles and setGemmPrefetch set).
 */
export function gemmTile(
  rowsPerThread: number,
  colsPerThread: number,
  variant: Omit<GemmVariant, 'large'> = { vector: vectorTiles, prefetch, double: doubleBuffer },
): GemmTile {
  return {
    rowsPerThread,
    colsPerThread,
    vector: variant.vector && rowsPerThread % 4 === 0 && colsPerThread % 4 === 0,
    // the double-buffered loop always reads the next K-tile during the multiply
    prefetch: variant.prefetch || variant.double === true,
    ...(variant.specialize ? { specialize: true } : {}),
    ...(variant.double ? { double: true } : {}),
  };
}

/**
 * For GemmTile.specialize: the shader key suffix and the user code with each `uniforms.<name>` of `constants`
 * replaced by its value. `uniforms.dimM` must stay a uniform: a shader that reads no uniform leaves its binding
 * unused, and Dawn then drops the dispatch.
 */
export function specializeShader(tile: GemmTile, constants: Record<string, number>, code: () => string): { keySuffix: string; getUserCode: () => string } {
  if (!tile.specialize) return { keySuffix: '', getUserCode: code };
  const names = Object.keys(constants).sort();
  if (names.includes('dimM')) throw new Error('specializeShader: dimM stays a uniform');
  return {
    keySuffix: `_sp${names.map((name) => constants[name]).join('_')}`,
    getUserCode: () =>
      names.reduce(
        (text, name) => text.replace(new RegExp(`uniforms\\.${name.replace('.', '\\.')}\\b`, 'g'), String(constants[name])),
        code(),
      ),
  };
}

/** For shader keys: what distinguishes one tile's code from another's. */
export function gemmTileKey(tile: GemmTile): string {
  return `${tile.rowsPerThread}_${tile.colsPerThread}${tile.vector ? '_v4' : ''}${tile.prefetch ? '_pf' : ''}${tile.specialize ? '_sp' : ''}${tile.double ? '_db' : ''}`;
}

/** How a kernel stages one K-tile: read into registers, then store them into tileA/tileB. */
export interface GemmStaging {
  /** WGSL declaring the registers (vars) the reads assign. */
  registers: string;
  /** WGSL reading the thread's share of the K-tile whose first k is `kTile` (a WGSL expression) into the registers; zeros past K. */
  read(kTile: string): string;
  /** WGSL storing the registers into the workgroup tiles. */
  store: string;
}

/**
 * WGSL: the loop over `steps` K-tiles (`steps` uniform, so the barriers stay in uniform control flow),
 * the tile of step s starting at k = kTile(s). With GemmTile.prefetch, the next tile's reads are issued
 * before the staged one is multiplied (one extra, all-zero read after the last).
 */
export function gemmMainLoop(tile: GemmTile, steps: string, kTile: (step: string) => string, staging: GemmStaging): string {
  if (tile.double) {
    // the stores of step s go to the tile the multiply of step s − 1 read, which every thread had finished
    // at that step's barrier
    return `
      ${staging.registers}
      var stageOffset = 0;
      var multiplyOffset = 0;
      ${staging.read(kTile('0'))}
      ${staging.store}
      workgroupBarrier();
      for (var step = 0; step < ${steps}; step++) {
        ${staging.read(kTile('step + 1'))}
        multiplyOffset = (step & 1) * ${TILE_K};
        stageOffset = ((step + 1) & 1) * ${TILE_K};${gemmMultiplyStaged(tile)}
        ${staging.store}
        workgroupBarrier();
      }`;
  }
  if (!tile.prefetch) {
    return `
      ${staging.registers}
      for (var step = 0; step < ${steps}; step++) {
        ${staging.read(kTile('step'))}
        ${staging.store}
        workgroupBarrier();${gemmMultiplyStaged(tile)}
        workgroupBarrier();
      }`;
  }
  return `
      ${staging.registers}
      ${staging.read(kTile('0'))}
      ${staging.store}
      workgroupBarrier();
      for (var step = 0; step < ${steps}; step++) {
        ${staging.read(kTile('step + 1'))}${gemmMultiplyStaged(tile)}
        workgroupBarrier();
        ${staging.store}
        workgroupBarrier();
      }`;
}

/**
 * WGSL: the workgroup arrays tileA (TILE_K × tileM) and tileB (TILE_K × tileN); `padA`/`padB` add one
 * element (a vec4 in the vector layout) to each k's row, for stores that walk k across a warp.
 */
export function gemmTileDeclarations(tile: GemmTile, padA: boolean, padB: boolean): string {
  // double tiles keep their padding only where it fits
  const padded = gemmTileBytes(tile, padA, padB) <= WORKGROUP_STORAGE_BYTES;
  const row = (length: number, pad: boolean) =>
    tile.vector ? `array<vec4<f32>, ${paddedLength(tile, length, pad && padded) / 4}>` : `array<f32, ${paddedLength(tile, length, pad && padded)}>`;
  const copies = tile.double ? 2 : 1;
  return `
    var<workgroup> tileA : array<${row(THREADS_PER_SIDE * tile.rowsPerThread, padA)}, ${copies * TILE_K}>;
    var<workgroup> tileB : array<${row(THREADS_PER_SIDE * tile.colsPerThread, padB)}, ${copies * TILE_K}>;`;
}

/** Words of one staged k's row: `length`, plus one element (a vec4 in the vector layout) where padded. */
function paddedLength(tile: GemmTile, length: number, pad: boolean): number {
  return length + (pad ? (tile.vector ? 4 : 1) : 0);
}

/** Bytes of the workgroup tiles tileA and tileB (both copies of double tiles). */
function gemmTileBytes(tile: GemmTile, padA: boolean, padB: boolean): number {
  const copies = tile.double ? 2 : 1;
  const rowWords = paddedLength(tile, THREADS_PER_SIDE * tile.rowsPerThread, padA) + paddedLength(tile, THREADS_PER_SIDE * tile.colsPerThread, padB);
  return copies * TILE_K * rowWords * 4;
}

/**
 * The tile, single-buffered where double tiles (unpadded) and `extraBytes` of the kernel's own workgroup variables
 * would pass WORKGROUP_STORAGE_BYTES (128×128 double tiles fill it exactly).
 */
export function withinWorkgroupStorage(tile: GemmTile, extraBytes: number): GemmTile {
  if (!tile.double || gemmTileBytes(tile, false, false) + extraBytes <= WORKGROUP_STORAGE_BYTES) return tile;
  const { double: _double, ...single } = tile;
  return single;
}

/** WGSL: stores `value` at staged k `k`, row (of tileA) or column (of tileB) `index`. */
export function gemmStage(tile: GemmTile, array: 'tileA' | 'tileB', k: string, index: string, value: string): string {
  const row = tile.double ? `stageOffset + ${k}` : k;
  return tile.vector ? `${array}[${row}][(${index}) >> 2u][(${index}) & 3] = ${value};` : `${array}[${row}][${index}] = ${value};`;
}

/** WGSL: the tile row of the thread's accumulator row i (add mBase for M). */
export function gemmRow(tile: GemmTile, i: number): string {
  return tile.vector ? `ty * 4 + ${64 * (i >> 2) + (i & 3)}` : `ty + ${THREADS_PER_SIDE * i}`;
}

/** WGSL: the tile column of the thread's accumulator column j (add nBase for N). */
export function gemmColumn(tile: GemmTile, j: number): string {
  return tile.vector ? `tx * 4 + ${64 * (j >> 2) + (j & 3)}` : `tx + ${THREADS_PER_SIDE * j}`;
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

/** CONV_UNIFORMS as shader constants (specializeShader), the same values convUniformData fills them with. */
export function convUniformConstants(convInfo: tf.backend_util.Conv2DInfo): Record<string, number> {
  return {
    'filterDims.x': convInfo.filterHeight,
    'filterDims.y': convInfo.filterWidth,
    'pads.x': convInfo.padInfo.top,
    'pads.y': convInfo.padInfo.left,
    'strides.x': convInfo.strideHeight,
    'strides.y': convInfo.strideWidth,
  };
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
  const kk = tile.double ? 'multiplyOffset + kk' : 'kk';
  if (tile.vector) {
    const component = (index: number) => 'xyzw'[index & 3];
    return `
          for (var kk = 0; kk < ${TILE_K}; kk++) {
            ${range(tile.rowsPerThread / 4).map((v) => `let a${v} = tileA[${kk}][ty + ${16 * v}];`).join(' ')}
            ${range(tile.colsPerThread / 4).map((v) => `let b${v} = tileB[${kk}][tx + ${16 * v}];`).join(' ')}
            ${rows
              .map((i) => cols.map((j) => `acc${i}_${j} = fma(a${i >> 2}.${component(i)}, b${j >> 2}.${component(j)}, acc${i}_${j});`).join(' '))
              .join('\n')}
          }`;
  }
  return `
          for (var kk = 0; kk < ${TILE_K}; kk++) {
            ${rows.map((i) => `let a${i} = tileA[${kk}][${gemmRow(tile, i)}];`).join(' ')}
            ${cols.map((j) => `let b${j} = tileB[${kk}][${gemmColumn(tile, j)}];`).join(' ')}
            ${rows.map((i) => cols.map((j) => `acc${i}_${j} = fma(a${i}, b${j}, acc${i}_${j});`).join(' ')).join('\n')}
          }`;
}

/** Whether a grid fits the device's limit on workgroups per dimension. */
export function dispatchFits(backend: WebGPUBackend, dispatch: [number, number, number]): boolean {
  const limit = backend.device.limits.maxComputeWorkgroupsPerDimension;
  return dispatch.every((d) => d <= limit);
}
