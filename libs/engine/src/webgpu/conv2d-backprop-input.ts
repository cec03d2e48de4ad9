import * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend, WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';
import {
  CONV_UNIFORMS,
  TILE_K,
  WORKGROUP_THREADS,
  channelsLastConvInfo,
  convUniformConstants,
  convUniformData,
  dispatchFits,
  gemmAccumulators,
  gemmColumn,
  gemmDispatch,
  gemmRow,
  gemmStage,
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
  withinWorkgroupStorage,
  NARROW_VARIANT,
} from './conv-gemm';
import { convFlops, gemmProblemKey, noteGemmProblem, tunedGemmVariant } from './gemm-tuning';
import { planTile } from './gemm-tiles';
import { NARROW_MAX_CHANNELS, narrowInputGradient, narrowInputGradientFits } from './narrow-conv';
import { webGpuKernelWithFallback } from './webgpu-kernel';

/**
 * Conv2DBackpropInput as a tiled implicit GEMM with the sub-pixel (stride-phase) decomposition
 * (channels-last, dilation 1).
 *
 *   dx[n, ih, iw, ci] = Σ_{kh, kw, co} dy[n, oh, ow, co] · W[kh, kw, ci, co],  oh·s + kh − pad = ih
 *
 * For stride s only the taps with kh ≡ ih + pad (mod s) contribute, so the input pixels split into
 * s_h·s_w phases (ih mod s_h, iw mod s_w); within a phase every pixel uses the same taps
 * kh = kh0 + s·t and oh = i + off − t (ih = phase + s·i). Each phase is a dense GEMM with
 * M = batch·⌈H/s⌉·⌈W/s⌉ rows (its pixels), N = ci columns and K = taps·co: no multiplication by the
 * zeros a dilated dy would hold. One dispatch covers every phase (grid z = phase); a workgroup of
 * 16×16 threads computes one TILE_M×TILE_N tile of C, staging 16-deep slices of A (gathered from dy)
 * and B (the filter, read transposed) in workgroup memory. Stride 1 is the one-phase case.
 *
 * tfjs-backend-webgpu's default is a naive shader (one thread per dx element, no reuse): 67.8 ms of
 * a 325 ms step at 64 px, batch 128, on an H200.
 */

/** Outputs per thread along M (pixels) and N (input channels), and the phases. */
export interface BackpropInputPlan extends GemmTile {
  /** Phases along height and width (the strides). */
  phasesH: number;
  phasesW: number;
  /** Pixels of one phase along height and width (the largest phase; smaller ones are masked). */
  phaseHeight: number;
  phaseWidth: number;
  dimM: number;
  dimN: number;
  dispatch: [number, number, number];
}

export function planBackpropInput(convInfo: tf.backend_util.Conv2DInfo, variant?: GemmVariant): BackpropInputPlan {
  const phasesH = convInfo.strideHeight;
  const phasesW = convInfo.strideWidth;
  const phaseHeight = Math.ceil(convInfo.inHeight / phasesH);
  const phaseWidth = Math.ceil(convInfo.inWidth / phasesW);
  const dimM = convInfo.batchSize * phaseHeight * phaseWidth;
  const dimN = convInfo.inChannels;
  // the kernel's own workgroup variable (stepsShared) leaves no room for 128×128 double tiles
  const tile = withinWorkgroupStorage(planTile(dimM, dimN, phasesH * phasesW, variant), 4);
  return { ...tile, phasesH, phasesW, phaseHeight, phaseWidth, dimM, dimN, dispatch: gemmDispatch(dimM, dimN, tile, phasesH * phasesW) };
}

function backpropInputGemmProgram(plan: BackpropInputPlan, convInfo: tf.backend_util.Conv2DInfo): WebGPUProgram {
  const { keySuffix, getUserCode } = specializeShader(
    plan,
    {
      'outShape.y': convInfo.inHeight,
      'outShape.z': convInfo.inWidth,
      'outShape.w': convInfo.inChannels,
      'dyShape.y': convInfo.outHeight,
      'dyShape.z': convInfo.outWidth,
      'dyShape.w': convInfo.outChannels,
      ...convUniformConstants(convInfo),
      'phaseDims.x': plan.phaseHeight,
      'phaseDims.y': plan.phaseWidth,
      dimN: plan.dimN,
    },
    () => backpropInputShader(plan),
  );
  return gemmProgram({
    variableNames: ['dy', 'W'],
    outputShape: convInfo.inShape,
    shaderKey: `faceganBackpropInputGemm_${gemmTileKey(plan)}${keySuffix}`,
    uniforms: `${CONV_UNIFORMS} phaseDims : vec2<i32>, dimM : i32, dimN : i32,`,
    dispatch: plan.dispatch,
    getUserCode,
  });
}

/** The input gradient's staging, per phase: A gathered from dy along co, B from W along ci, at one k a thread. */
function backpropInputStaging(plan: BackpropInputPlan): GemmStaging {
  const loadsA = plan.rowsPerThread;
  const loadsB = plan.colsPerThread;
  const rowStride = WORKGROUP_THREADS / TILE_K;
  return {
    registers: [...range(loadsA).map((r) => `var stagedA${r} = 0.0;`), ...range(loadsB).map((r) => `var stagedB${r} = 0.0;`)].join(' '),
    read: (kTile) => `{
        let k = ${kTile} + kLoad;
        let kOk = k < dimK;
        let co = k % outChannels;
        let tap = k / outChannels;
        let tw = tap % max(tapsW, 1);
        let th = tap / max(tapsW, 1);
        ${range(loadsA)
          .map(
            (r) => `{
          stagedA${r} = 0.0;
          let oh = iA${r} + offH - th;
          let ow = jA${r} + offW - tw;
          if (kOk && okA${r} && oh >= 0 && oh < outHeight && ow >= 0 && ow < outWidth) {
            stagedA${r} = dy[((nA${r} * outHeight + oh) * outWidth + ow) * outChannels + co];
          }
        }`,
          )
          .join('\n')}
        let kh = kh0 + th * uniforms.strides.x;
        let kw = kw0 + tw * uniforms.strides.y;
        let filterBase = (kh * filterWidth + kw) * inChannels;
        ${range(loadsB)
          .map(
            (r) => `{
          let c = nBase + firstRow + ${r * rowStride};
          stagedB${r} = 0.0;
          if (kOk && c < inChannels) {
            stagedB${r} = W[(filterBase + c) * outChannels + co];
          }
        }`,
          )
          .join('\n')}
      }`,
    store: [
      ...range(loadsA).map((r) => gemmStage(plan, 'tileA', 'kLoad', `firstRow + ${r * rowStride}`, `stagedA${r}`)),
      ...range(loadsB).map((r) => gemmStage(plan, 'tileB', 'kLoad', `firstRow + ${r * rowStride}`, `stagedB${r}`)),
    ].join('\n        '),
  };
}

function backpropInputShader(plan: BackpropInputPlan): string {
  const rows = plan.rowsPerThread;
  const cols = plan.colsPerThread;
  // Each thread stages rowsPerThread rows of A and colsPerThread columns of B at one k (coalesced along co).
  const loadsA = rows;
  return `
    // padded rows: the stores of a warp (16 k × 2 rows) fall in distinct banks (2-way with vec4 tiles).
    ${gemmTileDeclarations(plan, true, true)}
    var<workgroup> stepsShared : i32;

    fn main() {${gemmTileOrigin(plan)}

      let inHeight = uniforms.outShape.y;
      let inWidth = uniforms.outShape.z;
      let inChannels = uniforms.outShape.w;
      let outHeight = uniforms.dyShape.y;
      let outWidth = uniforms.dyShape.z;
      let outChannels = uniforms.dyShape.w;
      let filterWidth = uniforms.filterDims.y;
      let phaseH = uniforms.phaseDims.x;
      let phaseW = uniforms.phaseDims.y;

      // This workgroup's phase and its taps: kh = kh0 + stride·t for t < tapsH, oh = i + offH − t.
      let phase = i32(workgroupId.z);
      let phH = phase / uniforms.strides.y;
      let phW = phase - phH * uniforms.strides.y;
      let kh0 = (phH + uniforms.pads.x) % uniforms.strides.x;
      let kw0 = (phW + uniforms.pads.y) % uniforms.strides.y;
      let tapsH = max(0, (uniforms.filterDims.x - kh0 + uniforms.strides.x - 1) / uniforms.strides.x);
      let tapsW = max(0, (filterWidth - kw0 + uniforms.strides.y - 1) / uniforms.strides.y);
      let offH = (phH + uniforms.pads.x - kh0) / uniforms.strides.x;
      let offW = (phW + uniforms.pads.y - kw0) / uniforms.strides.y;
      let dimK = tapsH * tapsW * outChannels;

      // The A rows this thread stages are fixed: decompose them into (n, i, j) once.
      let kLoad = flat % ${TILE_K};
      let firstRow = flat / ${TILE_K};
      ${range(loadsA)
        .map(
          (r) => `
      let mA${r} = mBase + firstRow + ${r * (WORKGROUP_THREADS / TILE_K)};
      let jA${r} = mA${r} % phaseW;
      let iA${r} = (mA${r} / phaseW) % phaseH;
      let nA${r} = mA${r} / (phaseW * phaseH);
      let okA${r} = mA${r} < uniforms.dimM && phH + iA${r} * uniforms.strides.x < inHeight &&
          phW + jA${r} * uniforms.strides.y < inWidth;`,
        )
        .join('')}

      ${gemmAccumulators(plan)}

      // The trip count depends on the phase (workgroupId.z), the same for the whole workgroup; the
      // uniformity analysis cannot see that through the module-scope copy of workgroupId, so it goes
      // through workgroupUniformLoad and the barriers below stay in uniform control flow.
      if (flat == 0) {
        stepsShared = (dimK + ${TILE_K - 1}) / ${TILE_K};
      }
      let steps = workgroupUniformLoad(&stepsShared);
      ${gemmMainLoop(plan, 'steps', (step) => `(${step}) * ${TILE_K}`, backpropInputStaging(plan))}

      ${range(rows)
        .map(
          (i) => `{
        let m = mBase + ${gemmRow(plan, i)};
        let j = m % phaseW;
        let i = (m / phaseW) % phaseH;
        let n = m / (phaseW * phaseH);
        let ih = phH + i * uniforms.strides.x;
        let iw = phW + j * uniforms.strides.y;
        if (m < uniforms.dimM && ih < inHeight && iw < inWidth) {
          let base = ((n * inHeight + ih) * inWidth + iw) * inChannels;
          ${range(cols)
            .map(
              (j) => `
          if (nBase + ${gemmColumn(plan, j)} < inChannels) {
            result[base + nBase + ${gemmColumn(plan, j)}] = acc${i}_${j};
          }`,
            )
            .join('')}
        }
      }`,
        )
        .join('\n')}
    }
  `;
}

export interface BackpropInputArgs extends ConvGeometry {
  dy: tf.TensorInfo;
  filter: tf.TensorInfo;
  inputShape: [number, number, number, number];
}

export function backpropInputConvInfo(args: BackpropInputArgs): tf.backend_util.Conv2DInfo {
  return channelsLastConvInfo(args.inputShape, args.filter.shape, args);
}

/**
 * Runs the phase-decomposed implicit-GEMM backprop-input on the webgpu backend (channels-last), in `variant`
 * or else the variant tuned for this problem (gemm-tuning.ts) or else the default plan.
 */
export function backpropInputGemm(backend: WebGPUBackend, args: BackpropInputArgs, variant?: GemmVariant): tf.TensorInfo {
  const convInfo = backpropInputConvInfo(args);
  const key = gemmProblemKey('backprop-input', convInfo);
  noteGemmProblem(key, () => {
    const { inputShape, strides, pad, dimRoundingMode } = args;
    return {
      flops: convFlops(convInfo),
      inputShapes: [args.dy.shape, args.filter.shape],
      plan: (v) => (v?.narrow ? 'narrow' : planBackpropInput(convInfo, v)),
      fits: (v) => (v.narrow ? narrowInputGradientFits(backend, convInfo) : dispatchFits(backend, planBackpropInput(convInfo, v).dispatch)),
      extraCandidates: convInfo.inChannels <= NARROW_MAX_CHANNELS ? [NARROW_VARIANT] : [],
      run: (b, [dy, filter], v) => backpropInputGemm(b, { dy, filter, inputShape, strides, pad, dimRoundingMode }, v),
    };
  });
  const chosen = variant ?? tunedGemmVariant(key);
  if (chosen?.narrow) return narrowInputGradient(backend, convInfo, args.dy, args.filter);
  const plan = planBackpropInput(convInfo, chosen);
  const uniforms = [
    ...convUniformData(convInfo),
    { type: 'int32', data: [plan.phaseHeight, plan.phaseWidth] },
    { type: 'int32', data: [plan.dimM] },
    { type: 'int32', data: [plan.dimN] },
  ];
  return backend.runWebGPUProgram(backpropInputGemmProgram(plan, convInfo), [args.dy, args.filter], 'float32', uniforms);
}

/** Whether the GEMM handles this call (the grid fits the device's limits); the stock kernel runs otherwise. */
function gemmFits(backend: WebGPUBackend, convInfo: tf.backend_util.Conv2DInfo): boolean {
  const variant = tunedGemmVariant(gemmProblemKey('backprop-input', convInfo));
  const fits = variant?.narrow ? narrowInputGradientFits(backend, convInfo) : dispatchFits(backend, planBackpropInput(convInfo, variant).dispatch);
  return fits && convInfo.dilationHeight === 1 && convInfo.dilationWidth === 1;
}

/** Builds the kernel config; `fallback` (the stock kernel) handles NCHW and grids over the device limits. */
export function backpropInputGemmKernel(fallback: tf.KernelConfig | undefined): tf.KernelConfig {
  return webGpuKernelWithFallback<{ dy: tf.TensorInfo; filter: tf.TensorInfo }>(tf.Conv2DBackpropInput, fallback, (kernelArgs) => {
    const attrs = kernelArgs.attrs as unknown as tf.Conv2DBackpropInputAttrs;
    const backend = kernelArgs.backend as WebGPUBackend;
    const args: BackpropInputArgs = {
      dy: kernelArgs.inputs.dy,
      filter: kernelArgs.inputs.filter,
      inputShape: attrs.inputShape,
      strides: attrs.strides,
      pad: attrs.pad,
      dimRoundingMode: attrs.dimRoundingMode,
    };
    if (attrs.dataFormat === 'NCHW' || !gemmFits(backend, backpropInputConvInfo(args))) return undefined;
    return backpropInputGemm(backend, args);
  });
}
