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
  NARROW_BLOCKED_VARIANT,
  NARROW_TAPS_VARIANT,
  NARROW_VARIANT,
} from './conv-gemm';
import { convFlops, gemmProblemKey, noteGemmProblem, tunedGemmVariant } from './gemm-tuning';
import { planTile } from './gemm-tiles';
import {
  NARROW_MAX_CHANNELS,
  narrowBlockedForwardApplies,
  narrowForwardConv,
  narrowForwardFits,
  narrowTapsForwardConv,
  narrowTapsForwardFits,
  narrowTapsGemmFilterShape,
} from './narrow-conv';
import { webGpuKernelWithFallback } from './webgpu-kernel';

/**
 * FusedConv2D and Conv2D (channels-last, dilation 1, linear activation, optional per-channel bias) as a tiled
 * implicit GEMM, the same scheme as the backprop kernels:
 *
 *   y[n, oh, ow, co] = Σ_{kh, kw, ci} x[n, oh·s + kh − pad, ow·s + kw − pad, ci] · W[kh, kw, ci, co] + b[co]
 *
 * is C = A·B with M = batch·outH·outW rows, N = co columns, K = kh·kw·ci: A gathered from x (zero
 * outside the image, coalesced along ci), B = W viewed as [K, co] (coalesced along co). A workgroup of
 * 16×16 threads computes a TILE_M×TILE_N tile, staging 16-deep slices in workgroup memory.
 *
 * Measured against the stock Conv2DMMProgram, a tuned GEMM already, on an H200 (2026-11-26, 64 px step):
 * 38.0 against 46.5 ms for the 25 forward convolutions, 943 against 844 img/s for the step; the default
 * since (installWebGpuOverrides('all'); 'v2' leaves it out). Everything it does not cover (NCHW,
 * dilations, other activations, PReLU weights, a bias that is not [co]) runs the stock kernel.
 */

interface ForwardPlan extends GemmTile {
  dimM: number;
  dimN: number;
  dimK: number;
  dispatch: [number, number, number];
}

function planForward(convInfo: tf.backend_util.Conv2DInfo, variant?: GemmVariant): ForwardPlan {
  const dimM = convInfo.batchSize * convInfo.outHeight * convInfo.outWidth;
  const dimN = convInfo.outChannels;
  const dimK = convInfo.filterHeight * convInfo.filterWidth * convInfo.inChannels;
  const tile = planTile(dimM, dimN, 1, variant);
  return { ...tile, dimM, dimN, dimK, dispatch: gemmDispatch(dimM, dimN, tile, 1) };
}

function forwardConvGemmProgram(plan: ForwardPlan, convInfo: tf.backend_util.Conv2DInfo, hasBias: boolean): WebGPUProgram {
  const { keySuffix, getUserCode } = specializeShader(
    plan,
    {
      'xShape.y': convInfo.inHeight,
      'xShape.z': convInfo.inWidth,
      'xShape.w': convInfo.inChannels,
      'outShape.y': convInfo.outHeight,
      'outShape.z': convInfo.outWidth,
      ...convUniformConstants(convInfo),
      dimN: plan.dimN,
      dimK: plan.dimK,
    },
    () => forwardConvShader(plan, hasBias),
  );
  return gemmProgram({
    variableNames: hasBias ? ['x', 'W', 'bias'] : ['x', 'W'],
    outputShape: convInfo.outShape,
    shaderKey: `faceganForwardConvGemm_${gemmTileKey(plan)}_${hasBias}${keySuffix}`,
    uniforms: `${CONV_UNIFORMS} dimM : i32, dimN : i32, dimK : i32,`,
    dispatch: plan.dispatch,
    getUserCode,
  });
}

/** The forward GEMM's staging: A gathered from x along ci (zero outside the image), B = W along co. */
function forwardStaging(plan: ForwardPlan): GemmStaging {
  const tileN = THREADS_PER_SIDE * plan.colsPerThread;
  const loadsA = plan.rowsPerThread;
  const rowStrideA = WORKGROUP_THREADS / TILE_K;
  // B is staged along co: tileN consecutive threads read one row of W.
  const kRowsPerPassB = WORKGROUP_THREADS / tileN;
  const loadsB = TILE_K / kRowsPerPassB;
  return {
    registers: [...range(loadsA).map((r) => `var stagedA${r} = 0.0;`), ...range(loadsB).map((r) => `var stagedB${r} = 0.0;`)].join(' '),
    read: (kTile) => `{
          let k = ${kTile} + kLoadA;
          let kOk = k < uniforms.dimK;
          let ci = k % inChannels;
          let tap = k / inChannels;
          let kw = tap % filterWidth;
          let kh = tap / filterWidth;
          ${range(loadsA)
            .map(
              (r) => `{
            stagedA${r} = 0.0;
            let ih = ih0A${r} + kh;
            let iw = iw0A${r} + kw;
            if (kOk && okA${r} && ih >= 0 && ih < inHeight && iw >= 0 && iw < inWidth) {
              stagedA${r} = x[((nA${r} * inHeight + ih) * inWidth + iw) * inChannels + ci];
            }
          }`,
            )
            .join('\n')}
        }
        ${range(loadsB)
          .map(
            (r) => `{
          let k = ${kTile} + firstKB + ${r * kRowsPerPassB};
          stagedB${r} = 0.0;
          if (nLoadOk && k < uniforms.dimK) {
            stagedB${r} = W[k * uniforms.dimN + nBase + nLoadB];
          }
        }`,
          )
          .join('\n')}`,
    store: [
      ...range(loadsA).map((r) => gemmStage(plan, 'tileA', 'kLoadA', `firstRowA + ${r * rowStrideA}`, `stagedA${r}`)),
      ...range(loadsB).map((r) => gemmStage(plan, 'tileB', `firstKB + ${r * kRowsPerPassB}`, 'nLoadB', `stagedB${r}`)),
    ].join('\n        '),
  };
}

function forwardConvShader(plan: ForwardPlan, hasBias: boolean): string {
  const rows = plan.rowsPerThread;
  const cols = plan.colsPerThread;
  const tileM = THREADS_PER_SIDE * rows;
  const tileN = THREADS_PER_SIDE * cols;
  const loadsA = tileM / THREADS_PER_SIDE;
  const rowStrideA = WORKGROUP_THREADS / TILE_K;
  return `
    ${gemmTileDeclarations(plan, true, false)}

    fn main() {${gemmTileOrigin(plan)}

      let inHeight = uniforms.xShape.y;
      let inWidth = uniforms.xShape.z;
      let inChannels = uniforms.xShape.w;
      let outHeight = uniforms.outShape.y;
      let outWidth = uniforms.outShape.z;
      let filterWidth = uniforms.filterDims.y;

      // The A rows this thread stages are fixed: (n, top-left input pixel) once.
      let kLoadA = flat % ${TILE_K};
      let firstRowA = flat / ${TILE_K};
      ${range(loadsA)
        .map(
          (r) => `
      let mA${r} = mBase + firstRowA + ${r * rowStrideA};
      let owA${r} = mA${r} % outWidth;
      let ohA${r} = (mA${r} / outWidth) % outHeight;
      let nA${r} = mA${r} / (outWidth * outHeight);
      let ih0A${r} = ohA${r} * uniforms.strides.x - uniforms.pads.x;
      let iw0A${r} = owA${r} * uniforms.strides.y - uniforms.pads.y;
      let okA${r} = mA${r} < uniforms.dimM;`,
        )
        .join('')}
      let nLoadB = flat % ${tileN};
      let firstKB = flat / ${tileN};
      let nLoadOk = nBase + nLoadB < uniforms.dimN;

      ${gemmAccumulators(plan)}

      ${gemmMainLoop(plan, `(uniforms.dimK + ${TILE_K - 1}) / ${TILE_K}`, (step) => `(${step}) * ${TILE_K}`, forwardStaging(plan))}

      ${range(rows)
        .map(
          (i) => `{
        let m = mBase + ${gemmRow(plan, i)};
        if (m < uniforms.dimM) {
          ${range(cols)
            .map(
              (j) => `
          {
            let c = nBase + ${gemmColumn(plan, j)};
            if (c < uniforms.dimN) {
              result[m * uniforms.dimN + c] = acc${i}_${j}${hasBias ? ' + bias[c]' : ''};
            }
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

export interface ForwardConvArgs extends ConvGeometry {
  x: tf.TensorInfo;
  filter: tf.TensorInfo;
  bias?: tf.TensorInfo;
}

function forwardConvInfo(args: ForwardConvArgs): tf.backend_util.Conv2DInfo {
  return channelsLastConvInfo(args.x.shape, args.filter.shape, args);
}

/**
 * Runs the implicit-GEMM convolution (+ bias) on the webgpu backend (channels-last), in `variant` or else the
 * variant tuned for this problem (gemm-tuning.ts) or else the default plan.
 */
export function forwardConvGemm(backend: WebGPUBackend, args: ForwardConvArgs, variant?: GemmVariant): tf.TensorInfo {
  const convInfo = forwardConvInfo(args);
  const hasBias = args.bias !== undefined;
  const key = forwardProblemKey(convInfo, hasBias);
  noteGemmProblem(key, () => {
    const { strides, pad, dimRoundingMode } = args;
    return {
      flops: convFlops(convInfo),
      inputShapes: [args.x.shape, args.filter.shape, ...(args.bias ? [args.bias.shape] : [])],
      plan: (v) => (v?.narrow ? `narrow ${v.blocked === true} ${v.taps === true}` : planForward(convInfo, v)),
      fits: (v) => narrowOrTiledFits(backend, convInfo, v),
      extraCandidates:
        convInfo.outChannels > NARROW_MAX_CHANNELS
          ? []
          : [NARROW_VARIANT, ...(narrowBlockedForwardApplies(convInfo) ? [NARROW_BLOCKED_VARIANT] : []), NARROW_TAPS_VARIANT],
      run: (b, [x, filter, bias], v) => forwardConvGemm(b, { x, filter, bias, strides, pad, dimRoundingMode }, v),
    };
  });
  const chosen = variant ?? tunedGemmVariant(key);
  if (chosen?.narrow && chosen.taps) {
    // the 1×1 GEMM runs in its own tuned or default plan
    const tapsGemm = (x: tf.TensorInfo, filter: tf.TensorInfo) => forwardConvGemm(backend, { x, filter, strides: 1, pad: 'valid' });
    return narrowTapsForwardConv(backend, convInfo, args.x, args.filter, args.bias, tapsGemm);
  }
  if (chosen?.narrow) return narrowForwardConv(backend, convInfo, args.x, args.filter, args.bias, chosen.blocked);
  const plan = planForward(convInfo, chosen);
  const uniforms = [
    ...convUniformData(convInfo),
    { type: 'int32', data: [plan.dimM] },
    { type: 'int32', data: [plan.dimN] },
    { type: 'int32', data: [plan.dimK] },
  ];
  const inputs = args.bias ? [args.x, args.filter, args.bias] : [args.x, args.filter];
  return backend.runWebGPUProgram(forwardConvGemmProgram(plan, convInfo, hasBias), inputs, 'float32', uniforms);
}

/**
 * Whether the variant's grids fit the device: a narrow kernel's (the taps form's tap sum and its 1×1 GEMM in the
 * default plan), or the tiled GEMM's (in the default plan when undefined).
 */
function narrowOrTiledFits(backend: WebGPUBackend, convInfo: tf.backend_util.Conv2DInfo, variant: GemmVariant | undefined): boolean {
  if (variant?.narrow && variant.taps) {
    const { batchSize, inHeight, inWidth, inChannels } = convInfo;
    const tapsGemm = channelsLastConvInfo([batchSize, inHeight, inWidth, inChannels], narrowTapsGemmFilterShape(convInfo), { strides: 1, pad: 'valid' });
    return narrowTapsForwardFits(backend, convInfo) && dispatchFits(backend, planForward(tapsGemm, undefined).dispatch);
  }
  if (variant?.narrow) return narrowForwardFits(backend, convInfo, variant.blocked);
  return dispatchFits(backend, planForward(convInfo, variant).dispatch);
}

function forwardProblemKey(convInfo: tf.backend_util.Conv2DInfo, hasBias: boolean): string {
  return gemmProblemKey('forward', convInfo, hasBias ? ' bias' : '');
}

type FusedConvInputs = { x: tf.TensorInfo; filter: tf.TensorInfo; bias?: tf.TensorInfo; preluActivationWeights?: tf.TensorInfo };

/**
 * Builds the config of FusedConv2D (kernelName tf.FusedConv2D) or of the plain Conv2D (tf.Conv2D: what
 * tf.conv2d runs, e.g. the discriminator's SeparateBiasConv2D); `fallback` (the stock kernel) runs
 * whatever this does not cover.
 */
export function forwardConvGemmKernel(fallback: tf.KernelConfig | undefined, kernelName: typeof tf.FusedConv2D | typeof tf.Conv2D = tf.FusedConv2D): tf.KernelConfig {
  return webGpuKernelWithFallback<FusedConvInputs>(kernelName, fallback, (kernelArgs) => {
    const attrs = kernelArgs.attrs as unknown as Partial<tf.FusedConv2DAttrs> & tf.Conv2DAttrs;
    const { x, filter, bias, preluActivationWeights } = kernelArgs.inputs;
    const backend = kernelArgs.backend as WebGPUBackend;
    const dilations = typeof attrs.dilations === 'number' ? [attrs.dilations, attrs.dilations] : attrs.dilations;
    const outChannels = filter.shape[3];
    const covered =
      attrs.dataFormat !== 'NCHW' &&
      (dilations == null || dilations.every((d) => d === 1)) &&
      (attrs.activation === undefined || attrs.activation === 'linear') &&
      preluActivationWeights === undefined &&
      x.dtype === 'float32' &&
      (bias === undefined || (bias.shape.length === 1 && bias.shape[0] === outChannels));
    const args: ForwardConvArgs = { x, filter, bias, strides: attrs.strides, pad: attrs.pad, dimRoundingMode: attrs.dimRoundingMode };
    if (!covered) return undefined;
    const convInfo = forwardConvInfo(args);
    const tuned = tunedGemmVariant(forwardProblemKey(convInfo, bias !== undefined));
    if (!narrowOrTiledFits(backend, convInfo, tuned)) return undefined;
    return forwardConvGemm(backend, args);
  });
}
