/**
 * Gradients that run differently on 'wasm': batch normalisation's backward pass in one kernel, and
 * Sum/Mean gradients that broadcast dy instead of multiplying by an all-ones tensor.
 *
 * tfjs-core's FusedBatchNorm gradient is ~20 kernels per layer, eight of them over the whole
 * activation (x - mean, dy * scale, a tiled 1/sqrt(variance), products, four reductions); its Mean
 * gradient (twice per layer: the batch moments) builds ones(x.shape) in JavaScript, uploads it and
 * multiplies. Here the batch-norm gradient is one kernel of five full-size passes, and a Mean
 * gradient one memcpy-speed Tile (the fast path in broadcast-kernels.ts).
 *
 * The gradient registry is global (not per backend): each gradient here calls the one registered
 * before it (tfjs-core's, or another override's) whenever the active backend is not 'wasm' or the
 * call is outside its fast path, so the cpu reference and the WebGPU engine are unaffected. The
 * WebGPU engine has its own versions of both ideas (libs/engine/src/webgpu/batch-norm-grad.ts,
 * gradients.ts) on GPU kernels.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { channelSums } from './broadcast-kernels';
import { heapView, runWasmKernel, withScratch, type Scratch } from './compose';
import { scaleChannels } from './elementwise-kernels';

export const WASM_BATCH_NORM_GRAD = 'FaceganWasmBatchNormGrad';

/**
 * Per-channel statistics and scale of a channels-last float32 x: what the fused gradient covers.
 * (Without a scale tfjs-core cannot record the op for gradients at all: it saves the missing input.)
 */
function coversBatchNorm(x: tf.Tensor, mean: tf.Tensor, variance: tf.Tensor, scale: tf.Tensor | undefined): scale is tf.Tensor {
  const channels = x.shape[x.rank - 1];
  const isChannelVector = (t: tf.Tensor) => t.rank === 1 && t.shape[0] === channels && t.dtype === 'float32';
  return x.rank >= 2 && x.dtype === 'float32' && isChannelVector(mean) && isChannelVector(variance) && scale != null && isChannelVector(scale);
}

/**
 * The backward pass of y = scale * (x - mean) * r + offset, r = 1 / sqrt(variance + epsilon), per
 * channel. With s0 = sum(dy) and s1 = sum(dy * (x - mean)) per channel:
 *   dx = dy * scale * r,  dmean = -scale * r * s0,  dvariance = -0.5 * scale * r^3 * s1,
 *   dscale = r * s1,  doffset = s0
 * (tfjs-core's formulas). x - mean and the products run on XNNPACK (broadcast Sub and Multiply, dx as
 * a 1x1 depthwise convolution), the sums by channelSums: ~3 ms for [32, 32, 32, 32] with JavaScript
 * column sums, where one fused JS loop took 8.6. Inputs x, mean, variance, scale, dy; outputs dx, dmean,
 * dvariance, dscale, doffset.
 */
export const wasmBatchNormGradKernel: tf.KernelConfig = {
  kernelName: WASM_BATCH_NORM_GRAD,
  backendName: 'wasm',
  kernelFunc: (args) => {
    const backend = args.backend as BackendWasm;
    const { x, mean, variance, scale, dy } = args.inputs as Record<string, tf.TensorInfo>;
    const { varianceEpsilon } = args.attrs as { varianceEpsilon: number };
    const channels = x.shape[x.shape.length - 1];
    return withScratch(backend, (scratch) => {
      const { s0, s1, r } = batchNormGradSums(scratch, x, mean, variance, dy, varianceEpsilon);
      const gamma = heapView(backend, scale);
      const dxScale = new Float64Array(channels);
      for (let c = 0; c < channels; c++) dxScale[c] = gamma[c] * r[c];
      const dx =
        x.shape.length === 4
          ? scaleChannels(scratch, dy, dxScale)
          : runWasmKernel(backend, tf.Multiply, { a: dy, b: scratch.constant(dxScale) });
      const vectors = [0, 1, 2, 3].map(() => backend.makeOutput([channels], 'float32'));
      const [dMean, dVariance, dScale, dOffset] = vectors.map((v) => heapView(backend, v));
      // (heap views taken before the allocations above may be stale: only JS arrays from here on)
      for (let c = 0; c < channels; c++) {
        dMean[c] = -dxScale[c] * s0[c];
        dVariance[c] = -0.5 * dxScale[c] * r[c] * r[c] * s1[c];
        dScale[c] = r[c] * s1[c];
        dOffset[c] = s0[c];
      }
      return [dx, ...vectors];
    });
  },
};

export interface BatchNormGradSums {
  /** x − μ (owned by the scratch). */
  centred: tf.TensorInfo;
  /** Per channel: Σ dy, Σ dy·(x − μ), and r = 1/√(σ² + ε). */
  s0: Float64Array;
  s1: Float64Array;
  r: Float64Array;
}

/**
 * What every batch-norm gradient starts from, for a channels-last x and dy of the same shape (any rank;
 * the centred tensor has theirs): x − μ and the product on XNNPACK, the sums by channelSums.
 */
export function batchNormGradSums(
  scratch: Scratch,
  x: tf.TensorInfo,
  mean: tf.TensorInfo,
  variance: tf.TensorInfo,
  dy: tf.TensorInfo,
  varianceEpsilon: number,
): BatchNormGradSums {
  const channels = x.shape[x.shape.length - 1];
  const rows = tf.util.sizeFromShape(x.shape) / channels;
  const centred = scratch.run(tf.Sub, { a: x, b: mean });
  const product = scratch.run(tf.Multiply, { a: dy, b: centred });
  const s0 = channelSums(scratch, dy, rows, channels);
  const s1 = channelSums(scratch, product, rows, channels);
  const varianceValues = heapView(scratch.backend, variance);
  const r = Float64Array.from({ length: channels }, (_, c) => 1 / Math.sqrt(varianceValues[c] + varianceEpsilon));
  return { centred, s0, s1, r };
}

const onWasm = () => tf.getBackend() === 'wasm';

function fusedBatchNormGradient(previous: tf.GradConfig): tf.GradConfig {
  return {
    kernelName: tf.FusedBatchNorm,
    inputsToSave: ['x', 'mean', 'variance', 'scale'],
    gradFunc: (dy, saved, attrs) => {
      const [x, mean, variance, scale] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor | undefined];
      const dyTensor = dy as tf.Tensor;
      if (!onWasm() || dyTensor.dtype !== 'float32' || !coversBatchNorm(x, mean, variance, scale)) {
        return previous.gradFunc(dy, saved, attrs);
      }
      const { varianceEpsilon } = attrs as unknown as { varianceEpsilon: number };
      const inputs: tf.NamedTensorMap = { x, mean, variance, scale, dy: dyTensor };
      // Computed here, not in the closures (the tape runs each in its own tidy): one kernel call gives
      // all five; the ones nothing asks for are disposed with the backward pass's scope.
      const [dx, dMean, dVariance, dScale, dOffset] = tf
        .engine()
        .runKernel(WASM_BATCH_NORM_GRAD, inputs, { varianceEpsilon } as unknown as tf.NamedAttrMap) as tf.Tensor[];
      return { x: () => dx, mean: () => dMean, variance: () => dVariance, scale: () => dScale, offset: () => dOffset };
    },
  };
}

/** dy (the reduced shape, with or without keepDims) to x's shape, divided by `divisor`, as a Tile. */
function broadcastToInput(dy: tf.Tensor, xShape: number[], axis: number | number[], divisor: number): tf.Tensor {
  return tf.tidy(() => {
    const axes = tf.util.parseAxisParam(axis, xShape);
    const keptDims = xShape.map((size, dim) => (axes.includes(dim) ? 1 : size));
    const scaled = divisor === 1 ? dy : tf.div(dy, divisor);
    return tf.broadcastTo(tf.reshape(scaled, keptDims), xShape);
  });
}

function reductionGradient(kernelName: typeof tf.Sum | typeof tf.Mean, previous: tf.GradConfig): tf.GradConfig {
  return {
    kernelName,
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved;
      const dyTensor = dy as tf.Tensor;
      if (!onWasm() || dyTensor.dtype !== 'float32' || x.dtype !== 'float32') return previous.gradFunc(dy, saved, attrs);
      const { axis } = attrs as unknown as { axis: number | number[] };
      const axes = tf.util.parseAxisParam(axis, x.shape);
      const count = kernelName === tf.Mean ? axes.reduce((size, dim) => size * x.shape[dim], 1) : 1;
      return { x: () => broadcastToInput(dyTensor, x.shape, axis, count) };
    },
  };
}

const OVERRIDES: Record<string, (previous: tf.GradConfig) => tf.GradConfig> = {
  [tf.FusedBatchNorm]: fusedBatchNormGradient,
  [tf.Sum]: (previous) => reductionGradient(tf.Sum, previous),
  [tf.Mean]: (previous) => reductionGradient(tf.Mean, previous),
};

/** What each override replaced, and the overrides themselves (to recognise and to restore). */
const previousGradients = new Map<string, tf.GradConfig>();
const ourGradients = new Set<tf.GradConfig>();

/** Registers the gradients above (and the batch-norm kernel). Idempotent. */
export function registerWasmGradients(): void {
  if (tf.getKernel(WASM_BATCH_NORM_GRAD, 'wasm') === undefined) tf.registerKernel(wasmBatchNormGradKernel);
  for (const [kernelName, create] of Object.entries(OVERRIDES)) {
    const current = tf.getGradient(kernelName);
    if (current === undefined || ourGradients.has(current)) continue;
    previousGradients.set(kernelName, current);
    const ours = create(current);
    ourGradients.add(ours);
    tf.registerGradient(ours);
  }
}

/** True when every gradient above is the registered one. */
export function wasmGradientsRegistered(): boolean {
  return Object.keys(OVERRIDES).every((kernelName) => ourGradients.has(tf.getGradient(kernelName)));
}

/** Puts back the gradients registerWasmGradients() replaced (those still ours). */
export function unregisterWasmGradients(): void {
  for (const [kernelName, previous] of previousGradients) {
    if (ourGradients.has(tf.getGradient(kernelName))) tf.registerGradient(previous);
  }
}
