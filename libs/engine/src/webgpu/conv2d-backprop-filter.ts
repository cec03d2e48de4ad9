import * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend, WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';
import { gemmTileLimit, outputsPerThread as mediumOutputsPerThread } from './gemm-tiles';

/**
 * Conv2DBackpropFilter as a tiled implicit GEMM (channels-last, dilation 1).
 *
 *   dW[kh, kw, ci, co] = Σ_{n, oh, ow} x[n, oh·s + kh − pad, ow·s + kw − pad, ci] · dy[n, oh, ow, co]
 *
 * is C = A·B with M = kh·kw·ci rows (the filter's first three axes, so C laid out row-major is dW),
 * N = co columns and K = n·oh·ow: A[m, k] is gathered from x on the fly (zero outside the image),
 * B[k, n] is dy viewed as [K, N]. A workgroup of 16×16 threads computes one TILE_M×TILE_N tile of C,
 * each thread (TILE_M/16)×(TILE_N/16) outputs, staging 16-deep slices of A and B in workgroup memory.
 * K is huge (batch × output pixels) while M·N can be tiny (the first layer: 27 × 32), so K is split
 * across workgroups (grid z); each split writes its partial C and a second pass sums them.
 *
 * The stock webgpu shader gives each thread one dW element and loops over all of K with no reuse:
 * 0.82 s of a 2.7 s step at 64 px, batch 128, on an H200.
 */

const THREADS_PER_SIDE = 16;
const WORKGROUP_THREADS = THREADS_PER_SIDE * THREADS_PER_SIDE;
const TILE_K = 16;
/** Enough workgroups to fill a large GPU (132 SMs × 8 resident workgroups ≈ 1,000). */
const TARGET_WORKGROUPS = 1024;
/** A split must cover at least this many TILE_K steps, or the partial sums cost more than they save. */
const MIN_K_TILES_PER_SPLIT = 8;

export interface BackpropFilterPlan {
  /** Outputs per thread along M and N (1, 2, 4 or 8): tiles of 16·rowsPerThread × 16·colsPerThread. */
  rowsPerThread: number;
  colsPerThread: number;
  splits: number;
  kPerSplit: number;
  dimM: number;
  dimN: number;
  dimK: number;
}

/** Up to 4, or 8 along a dimension over 64 where setGemmTileLimit(8) allows (split-K keeps the grid full). */
function outputsPerThread(dim: number): number {
  return gemmTileLimit() === 8 && dim > 64 ? 8 : mediumOutputsPerThread(dim);
}

/** Tile shape and split-K for a problem; `splits` forces a split count (tests). */
export function planBackpropFilter(dimM: number, dimN: number, dimK: number, splits?: number): BackpropFilterPlan {
  const rowsPerThread = outputsPerThread(dimM);
  const colsPerThread = outputsPerThread(dimN);
  const tiles = Math.ceil(dimM / (16 * rowsPerThread)) * Math.ceil(dimN / (16 * colsPerThread));
  const kTiles = Math.ceil(dimK / TILE_K);
  const wanted = splits ?? Math.min(Math.ceil(TARGET_WORKGROUPS / tiles), Math.ceil(kTiles / MIN_K_TILES_PER_SPLIT));
  const kTilesPerSplit = Math.ceil(kTiles / Math.max(1, Math.min(wanted, kTiles)));
  const kPerSplit = kTilesPerSplit * TILE_K;
  return { rowsPerThread, colsPerThread, splits: Math.ceil(dimK / kPerSplit), kPerSplit, dimM, dimN, dimK };
}

class BackpropFilterGemmProgram implements WebGPUProgram {
  variableNames = ['x', 'dy'];
  outputShape: number[];
  shaderKey: string;
  // Three dispatch axes over an output of rank 2 or 4: the framework then emits no getOutputCoords
  // and calls main() without an index; the shader indexes the output itself.
  dispatchLayout = { x: [0], y: [1], z: [2] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [THREADS_PER_SIDE, THREADS_PER_SIDE, 1];
  uniforms = 'filterDims : vec2<i32>, pads : vec2<i32>, strides : vec2<i32>, dimM : i32, dimN : i32, dimK : i32, kPerSplit : i32,';
  private readonly plan: BackpropFilterPlan;

  constructor(plan: BackpropFilterPlan, outputShape: number[]) {
    this.plan = plan;
    this.outputShape = outputShape;
    const tileM = THREADS_PER_SIDE * plan.rowsPerThread;
    const tileN = THREADS_PER_SIDE * plan.colsPerThread;
    this.dispatch = [Math.ceil(plan.dimN / tileN), Math.ceil(plan.dimM / tileM), plan.splits];
    this.shaderKey = `faceganBackpropFilterGemm_${plan.rowsPerThread}_${plan.colsPerThread}`;
  }

  getUserCode(): string {
    const rows = this.plan.rowsPerThread;
    const cols = this.plan.colsPerThread;
    const tileM = THREADS_PER_SIDE * rows;
    const tileN = THREADS_PER_SIDE * cols;
    const loadsA = (tileM * TILE_K) / WORKGROUP_THREADS;
    const loadsB = (tileN * TILE_K) / WORKGROUP_THREADS;
    const range = (count: number) => Array.from({ length: count }, (_, i) => i);
    // Thread (tx, ty) owns rows ty + 16·i and columns tx + 16·j: neighbouring threads read neighbouring
    // workgroup-memory words and write neighbouring output columns.
    const multiplyAdd = range(rows)
      .map((i) => range(cols).map((j) => `acc${i}_${j} = fma(a${i}, b${j}, acc${i}_${j});`).join(' '))
      .join('\n');
    const store = range(rows)
      .map((i) =>
        range(cols)
          .map(
            (j) => `
        if (m${i} < uniforms.dimM && n${j} < uniforms.dimN) {
          result[splitOffset + m${i} * uniforms.dimN + n${j}] = acc${i}_${j};
        }`,
          )
          .join(''),
      )
      .join('');
    return `
      var<workgroup> tileA : array<array<f32, ${tileM}>, ${TILE_K}>;
      var<workgroup> tileB : array<array<f32, ${tileN}>, ${TILE_K}>;

      fn main() {
        let tx = i32(localId.x);
        let ty = i32(localId.y);
        let flat = ty * ${THREADS_PER_SIDE} + tx;
        let mBase = i32(workgroupId.y) * ${tileM};
        let nBase = i32(workgroupId.x) * ${tileN};
        let kBegin = i32(workgroupId.z) * uniforms.kPerSplit;
        let kEnd = min(kBegin + uniforms.kPerSplit, uniforms.dimK);

        let inHeight = uniforms.xShape.y;
        let inWidth = uniforms.xShape.z;
        let inChannels = uniforms.xShape.w;
        let outWidth = uniforms.dyShape.z;
        let outPixels = uniforms.dyShape.y * outWidth;

        // The A row this thread stages never changes (${WORKGROUP_THREADS} is a multiple of ${tileM}):
        // decompose it into (kh, kw, ci) once.
        let loadRowA = flat % ${tileM};
        let mLoad = mBase + loadRowA;
        let ci = mLoad % inChannels;
        let kw = (mLoad / inChannels) % uniforms.filterDims.y;
        let kh = mLoad / (inChannels * uniforms.filterDims.y);
        let mLoadValid = mLoad < uniforms.dimM;
        let firstKA = flat / ${tileM};
        let loadColB = flat % ${tileN};
        let nLoad = nBase + loadColB;
        let nLoadValid = nLoad < uniforms.dimN;
        let firstKB = flat / ${tileN};

        ${range(rows)
          .map((i) => range(cols).map((j) => `var acc${i}_${j} = 0.0;`).join(' '))
          .join('\n')}

        // The trip count comes from uniforms only, so the barriers stay in uniform control flow.
        let steps = (uniforms.kPerSplit + ${TILE_K - 1}) / ${TILE_K};
        for (var step = 0; step < steps; step++) {
          let kTile = kBegin + step * ${TILE_K};
          ${range(loadsA)
            .map(
              (r) => `{
            let kLocal = firstKA + ${(r * WORKGROUP_THREADS) / tileM};
            let k = kTile + kLocal;
            var value = 0.0;
            if (mLoadValid && k < kEnd) {
              let n = k / outPixels;
              let pixel = k - n * outPixels;
              let oh = pixel / outWidth;
              let ow = pixel - oh * outWidth;
              let ih = oh * uniforms.strides.x + kh - uniforms.pads.x;
              let iw = ow * uniforms.strides.y + kw - uniforms.pads.y;
              if (ih >= 0 && ih < inHeight && iw >= 0 && iw < inWidth) {
                value = x[((n * inHeight + ih) * inWidth + iw) * inChannels + ci];
              }
            }
            tileA[kLocal][loadRowA] = value;
          }`,
            )
            .join('\n')}
          ${range(loadsB)
            .map(
              (r) => `{
            let kLocal = firstKB + ${(r * WORKGROUP_THREADS) / tileN};
            let k = kTile + kLocal;
            var value = 0.0;
            if (nLoadValid && k < kEnd) {
              value = dy[k * uniforms.dimN + nLoad];
            }
            tileB[kLocal][loadColB] = value;
          }`,
            )
            .join('\n')}
          workgroupBarrier();
          for (var kk = 0; kk < ${TILE_K}; kk++) {
            ${range(rows)
              .map((i) => `let a${i} = tileA[kk][ty + ${16 * i}];`)
              .join(' ')}
            ${range(cols)
              .map((j) => `let b${j} = tileB[kk][tx + ${16 * j}];`)
              .join(' ')}
            ${multiplyAdd}
          }
          workgroupBarrier();
        }

        let splitOffset = i32(workgroupId.z) * uniforms.dimM * uniforms.dimN;
        ${range(rows)
          .map((i) => `let m${i} = mBase + ty + ${16 * i};`)
          .join(' ')}
        ${range(cols)
          .map((j) => `let n${j} = nBase + tx + ${16 * j};`)
          .join(' ')}
        ${store}
      }
    `;
  }
}

/** Sums the split-K partials [splits, M·N] into the filter gradient. */
class SumPartialsProgram implements WebGPUProgram {
  variableNames = ['partials'];
  outputShape: number[];
  shaderKey = 'faceganSumPartials';
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [64, 1, 1];
  size = true;

  constructor(outputShape: number[]) {
    this.outputShape = outputShape;
    this.dispatchLayout = { x: outputShape.map((_, dim) => dim) };
    this.dispatch = [Math.ceil(tf.util.sizeFromShape(outputShape) / 64), 1, 1];
  }

  getUserCode(): string {
    return `
      fn main(index : i32) {
        if (index < uniforms.size) {
          var sum = 0.0;
          for (var split = 0; split < uniforms.partialsShape.x; split++) {
            sum = sum + partials[split * uniforms.partialsShape.y + index];
          }
          setOutputAtIndex(index, sum);
        }
      }
    `;
  }
}

export interface BackpropFilterArgs {
  x: tf.TensorInfo;
  dy: tf.TensorInfo;
  filterShape: [number, number, number, number];
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  /** Forces the split-K count (tests); automatic otherwise. */
  splits?: number;
}

/** Runs the implicit-GEMM backprop-filter on the webgpu backend (channels-last input and dy). */
export function backpropFilterGemm(backend: WebGPUBackend, args: BackpropFilterArgs): tf.TensorInfo {
  const { x, dy, filterShape, strides, pad, dimRoundingMode } = args;
  const convInfo = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    'channelsLast',
  );
  const [filterHeight, filterWidth, inChannels, outChannels] = filterShape;
  const dimM = filterHeight * filterWidth * inChannels;
  const dimK = convInfo.batchSize * convInfo.outHeight * convInfo.outWidth;
  const plan = planBackpropFilter(dimM, outChannels, dimK, args.splits);
  const uniforms = [
    { type: 'int32', data: [filterHeight, filterWidth] },
    { type: 'int32', data: [convInfo.padInfo.top, convInfo.padInfo.left] },
    { type: 'int32', data: [convInfo.strideHeight, convInfo.strideWidth] },
    { type: 'int32', data: [dimM] },
    { type: 'int32', data: [outChannels] },
    { type: 'int32', data: [dimK] },
    { type: 'int32', data: [plan.kPerSplit] },
  ];
  if (plan.splits === 1) {
    return backend.runWebGPUProgram(new BackpropFilterGemmProgram(plan, filterShape), [x, dy], 'float32', uniforms);
  }
  const partialsShape = [plan.splits, dimM * outChannels];
  const partials = backend.runWebGPUProgram(
    new BackpropFilterGemmProgram(plan, partialsShape),
    [x, dy],
    'float32',
    uniforms,
  );
  const summed = backend.runWebGPUProgram(new SumPartialsProgram(filterShape), [partials], 'float32');
  backend.disposeData(partials.dataId);
  return summed;
}

/** Builds the kernel config; `fallback` (the stock kernel) handles what this one does not (NCHW). */
export function backpropFilterGemmKernel(fallback: tf.KernelConfig | undefined): tf.KernelConfig {
  return {
    kernelName: tf.Conv2DBackpropFilter,
    backendName: 'webgpu',
    kernelFunc: ((kernelArgs: { inputs: { x: tf.TensorInfo; dy: tf.TensorInfo }; backend: tf.KernelBackend; attrs: tf.NamedAttrMap }) => {
      const attrs = kernelArgs.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
      if (attrs.dataFormat === 'NCHW') {
        if (!fallback) throw new Error('Conv2DBackpropFilter: NCHW needs the stock webgpu kernel');
        return fallback.kernelFunc(kernelArgs as unknown as Parameters<tf.KernelFunc>[0]);
      }
      return backpropFilterGemm(kernelArgs.backend as WebGPUBackend, {
        x: kernelArgs.inputs.x,
        dy: kernelArgs.inputs.dy,
        filterShape: attrs.filterShape,
        strides: attrs.strides,
        pad: attrs.pad,
        dimRoundingMode: attrs.dimRoundingMode,
      });
    }) as unknown as tf.KernelFunc,
  };
}
