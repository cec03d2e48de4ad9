import * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend, WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';
import {
  CONV_UNIFORMS,
  THREADS_PER_SIDE,
  TILE_K,
  WORKGROUP_THREADS,
  channelsLastConvInfo,
  convUniformConstants,
  convUniformData,
  gemmAccumulators,
  gemmColumn,
  gemmDispatch,
  gemmRow,
  gemmStage,
  gemmTile,
  gemmTileDeclarations,
  gemmTileKey,
  gemmMainLoop,
  gemmProgram,
  gemmTileOrigin,
  range,
  specializeShader,
  type ConvGeometry,
  type GemmStaging,
  type GemmTile,
  type GemmVariant,
  largeAlong,
  NARROW_BLOCKED_VARIANT,
  NARROW_TAPS_VARIANT,
  NARROW_VARIANT,
} from './conv-gemm';
import { convFlops, gemmProblemKey, noteGemmProblem, tunedGemmVariant } from './gemm-tuning';
import { columnReduce } from './reduce';
import { gemmTileLimit, outputsAlong } from './gemm-tiles';
import { NARROW_MAX_CHANNELS, narrowBlockedFilterApplies, narrowFilterFits, narrowFilterGradientPartials, narrowFilterSplits, narrowTapsFilterFits, narrowTapsFilterGradient } from './narrow-conv';
import { webGpuKernelWithFallback } from './webgpu-kernel';

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

/** Enough workgroups to fill a large GPU (132 SMs × 8 resident workgroups ≈ 1,000). */
const TARGET_WORKGROUPS = 1024;
/** A split must cover at least this many TILE_K steps, or the partial sums cost more than they save. */
const MIN_K_TILES_PER_SPLIT = 8;

/** Outputs per thread along M and N (1, 2, 4 or 8): tiles of 16·rowsPerThread × 16·colsPerThread. */
export interface BackpropFilterPlan extends GemmTile {
  splits: number;
  kPerSplit: number;
  dimM: number;
  dimN: number;
  dimK: number;
}

/**
 * Tile shape and split-K for a problem; `splits` forces a split count (tests); `variant` the tile size and code
 * (by default 8 outputs per thread along dimensions over 64 where setGemmTileLimit(8) allows: split-K keeps the
 * grid full whatever the tile).
 */
export function planBackpropFilter(dimM: number, dimN: number, dimK: number, splits?: number, variant?: GemmVariant): BackpropFilterPlan {
  const large = variant ? largeAlong(variant) : { rows: gemmTileLimit() === 8, cols: gemmTileLimit() === 8 };
  const tile = gemmTile(outputsAlong(dimM, large.rows), outputsAlong(dimN, large.cols), variant);
  const { rowsPerThread, colsPerThread } = tile;
  const tiles = Math.ceil(dimM / (16 * rowsPerThread)) * Math.ceil(dimN / (16 * colsPerThread));
  const kTiles = Math.ceil(dimK / TILE_K);
  const planned = Math.min(Math.ceil(TARGET_WORKGROUPS / tiles), Math.ceil(kTiles / MIN_K_TILES_PER_SPLIT));
  const wanted = splits ?? Math.max(1, Math.round(planned * (variant?.splitScale ?? 1)));
  const kTilesPerSplit = Math.ceil(kTiles / Math.max(1, Math.min(wanted, kTiles)));
  const kPerSplit = kTilesPerSplit * TILE_K;
  return { ...tile, splits: Math.ceil(dimK / kPerSplit), kPerSplit, dimM, dimN, dimK };
}

function backpropFilterGemmProgram(plan: BackpropFilterPlan, convInfo: tf.backend_util.Conv2DInfo, outputShape: number[]): WebGPUProgram {
  const { keySuffix, getUserCode } = specializeShader(
    plan,
    {
      'xShape.y': convInfo.inHeight,
      'xShape.z': convInfo.inWidth,
      'xShape.w': convInfo.inChannels,
      'dyShape.y': convInfo.outHeight,
      'dyShape.z': convInfo.outWidth,
      ...convUniformConstants(convInfo),
      dimN: plan.dimN,
      dimK: plan.dimK,
      kPerSplit: plan.kPerSplit,
    },
    () => backpropFilterShader(plan),
  );
  return gemmProgram({
    variableNames: ['x', 'dy'],
    outputShape,
    shaderKey: `faceganBackpropFilterGemm_${gemmTileKey(plan)}${keySuffix}`,
    uniforms: `${CONV_UNIFORMS} dimM : i32, dimN : i32, dimK : i32, kPerSplit : i32,`,
    dispatch: gemmDispatch(plan.dimM, plan.dimN, plan, plan.splits),
    getUserCode,
  });
}

/** The filter gradient's staging: A gathered from x (zero outside the image) along M, B = dy along co. */
function backpropFilterStaging(plan: BackpropFilterPlan): GemmStaging {
  const tileM = THREADS_PER_SIDE * plan.rowsPerThread;
  const tileN = THREADS_PER_SIDE * plan.colsPerThread;
  const loadsA = (tileM * TILE_K) / WORKGROUP_THREADS;
  const loadsB = (tileN * TILE_K) / WORKGROUP_THREADS;
  return {
    registers: [...range(loadsA).map((r) => `var stagedA${r} = 0.0;`), ...range(loadsB).map((r) => `var stagedB${r} = 0.0;`)].join(' '),
    read: (kTile) => `
        ${range(loadsA)
          .map(
            (r) => `{
          let k = ${kTile} + firstKA + ${(r * WORKGROUP_THREADS) / tileM};
          stagedA${r} = 0.0;
          if (mLoadValid && k < kEnd) {
            let n = k / outPixels;
            let pixel = k - n * outPixels;
            let oh = pixel / outWidth;
            let ow = pixel - oh * outWidth;
            let ih = oh * uniforms.strides.x + kh - uniforms.pads.x;
            let iw = ow * uniforms.strides.y + kw - uniforms.pads.y;
            if (ih >= 0 && ih < inHeight && iw >= 0 && iw < inWidth) {
              stagedA${r} = x[((n * inHeight + ih) * inWidth + iw) * inChannels + ci];
            }
          }
        }`,
          )
          .join('\n')}
        ${range(loadsB)
          .map(
            (r) => `{
          let k = ${kTile} + firstKB + ${(r * WORKGROUP_THREADS) / tileN};
          stagedB${r} = 0.0;
          if (nLoadValid && k < kEnd) {
            stagedB${r} = dy[k * uniforms.dimN + nLoad];
          }
        }`,
          )
          .join('\n')}`,
    store: [
      ...range(loadsA).map((r) => gemmStage(plan, 'tileA', `firstKA + ${(r * WORKGROUP_THREADS) / tileM}`, 'loadRowA', `stagedA${r}`)),
      ...range(loadsB).map((r) => gemmStage(plan, 'tileB', `firstKB + ${(r * WORKGROUP_THREADS) / tileN}`, 'loadColB', `stagedB${r}`)),
    ].join('\n        '),
  };
}

function backpropFilterShader(plan: BackpropFilterPlan): string {
  const rows = plan.rowsPerThread;
  const cols = plan.colsPerThread;
  const tileM = THREADS_PER_SIDE * rows;
  const tileN = THREADS_PER_SIDE * cols;
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
    ${gemmTileDeclarations(plan, false, false)}

    fn main() {${gemmTileOrigin(plan)}
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

      ${gemmAccumulators(plan)}

      // The trip count comes from uniforms only, so the barriers stay in uniform control flow.
      ${gemmMainLoop(plan, `(uniforms.kPerSplit + ${TILE_K - 1}) / ${TILE_K}`, (step) => `kBegin + (${step}) * ${TILE_K}`, backpropFilterStaging(plan))}

      let splitOffset = i32(workgroupId.z) * uniforms.dimM * uniforms.dimN;
      ${range(rows)
        .map((i) => `let m${i} = mBase + ${gemmRow(plan, i)};`)
        .join(' ')}
      ${range(cols)
        .map((j) => `let n${j} = nBase + ${gemmColumn(plan, j)};`)
        .join(' ')}
      ${store}
    }
  `;
}

export interface BackpropFilterArgs extends ConvGeometry {
  x: tf.TensorInfo;
  dy: tf.TensorInfo;
  filterShape: [number, number, number, number];
  /** Forces the split-K count (tests); automatic otherwise. */
  splits?: number;
}

/**
 * Runs the implicit-GEMM backprop-filter on the webgpu backend (channels-last input and dy), in `variant` or
 * else the variant tuned for this problem (gemm-tuning.ts) or else the default plan.
 */
export function backpropFilterGemm(backend: WebGPUBackend, args: BackpropFilterArgs, variant?: GemmVariant): tf.TensorInfo {
  const { x, dy, filterShape } = args;
  const convInfo = channelsLastConvInfo(x.shape, filterShape, args);
  const [filterHeight, filterWidth, inChannels, outChannels] = filterShape;
  const dimM = filterHeight * filterWidth * inChannels;
  const dimK = convInfo.batchSize * convInfo.outHeight * convInfo.outWidth;
  const key = gemmProblemKey('backprop-filter', convInfo, args.splits ? ` splits${args.splits}` : '');
  noteGemmProblem(key, () => {
    const { strides, pad, dimRoundingMode, splits } = args;
    return {
      flops: convFlops(convInfo),
      inputShapes: [x.shape, dy.shape],
      plan: (v) =>
        v?.narrow ? `narrow ${v.blocked === true} ${v.taps === true} ${narrowFilterSplits(convInfo, v.blocked)}` : planBackpropFilter(dimM, outChannels, dimK, splits, v),
      fits: (v) =>
        !v.narrow || (v.taps ? narrowTapsFilterFits(backend, convInfo) : narrowFilterFits(backend, convInfo, narrowFilterSplits(convInfo, v.blocked), v.blocked)),
      extraCandidates:
        outChannels > NARROW_MAX_CHANNELS || splits !== undefined
          ? []
          : [NARROW_VARIANT, ...(narrowBlockedFilterApplies(convInfo) ? [NARROW_BLOCKED_VARIANT] : []), NARROW_TAPS_VARIANT],
      // once the code is chosen: a quarter or 4× the split-K count
      refinements: splits === undefined ? (best) => (best.narrow ? [] : [0.25, 4].map((splitScale) => ({ ...best, splitScale }))) : undefined,
      run: (b, [xAgain, dyAgain], v) => backpropFilterGemm(b, { x: xAgain, dy: dyAgain, filterShape, strides, pad, dimRoundingMode, splits }, v),
    };
  });
  const chosen = variant ?? tunedGemmVariant(key);
  if (chosen?.narrow && chosen.taps) {
    // the 1×1 filter gradient runs in its own tuned or default plan
    const tapsGemm = (xAgain: tf.TensorInfo, d: tf.TensorInfo, shape: [number, number, number, number]) =>
      backpropFilterGemm(backend, { x: xAgain, dy: d, filterShape: shape, strides: 1, pad: 'valid' });
    return narrowTapsFilterGradient(backend, convInfo, x, dy, tapsGemm);
  }
  if (chosen?.narrow) {
    const narrowSplits = narrowFilterSplits(convInfo, chosen.blocked);
    return sumPartials(backend, narrowFilterGradientPartials(backend, convInfo, x, dy, narrowSplits, chosen.blocked), filterShape);
  }
  const plan = planBackpropFilter(dimM, outChannels, dimK, args.splits, chosen);
  const uniforms = [
    ...convUniformData(convInfo),
    { type: 'int32', data: [dimM] },
    { type: 'int32', data: [outChannels] },
    { type: 'int32', data: [dimK] },
    { type: 'int32', data: [plan.kPerSplit] },
  ];
  if (plan.splits === 1) {
    return backend.runWebGPUProgram(backpropFilterGemmProgram(plan, convInfo, filterShape), [x, dy], 'float32', uniforms);
  }
  const partialsShape = [plan.splits, dimM * outChannels];
  return sumPartials(backend, backend.runWebGPUProgram(backpropFilterGemmProgram(plan, convInfo, partialsShape), [x, dy], 'float32', uniforms), filterShape);
}

/** dW from the split-K partials [splits, M·N], which it disposes: a column sum, parallel over the splits too. */
function sumPartials(backend: WebGPUBackend, partials: tf.TensorInfo, filterShape: number[]): tf.TensorInfo {
  const summed = columnReduce(backend, partials, 1, filterShape, false);
  backend.disposeData(partials.dataId);
  return summed;
}

/** Builds the kernel config; `fallback` (the stock kernel) handles what this one does not (NCHW). */
export function backpropFilterGemmKernel(fallback: tf.KernelConfig | undefined): tf.KernelConfig {
  return webGpuKernelWithFallback<{ x: tf.TensorInfo; dy: tf.TensorInfo }>(tf.Conv2DBackpropFilter, fallback, (kernelArgs) => {
    const attrs = kernelArgs.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
    if (attrs.dataFormat === 'NCHW') return undefined;
    return backpropFilterGemm(kernelArgs.backend as WebGPUBackend, {
      x: kernelArgs.inputs.x,
      dy: kernelArgs.inputs.dy,
      filterShape: attrs.filterShape,
      strides: attrs.strides,
      pad: attrs.pad,
      dimRoundingMode: attrs.dimRoundingMode,
    });
  });
}
