import * as tf from '@tensorflow/tfjs';
import { BATCH_NORM_TRAIN_GRAD, BATCH_VARIANCE, MOVING_AVERAGE, type BatchNormTrainGradAttrs, type MovingAverageAttrs } from '@facegan/model';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { ElementwiseProgram, storeVec4, vec4Options } from './elementwise-program';
import { batchNormGradSums, batchVariance } from './reduce';
import { webGpuKernel, type KernelArgs } from './webgpu-kernel';

/**
 * The gradient of FusedBatchNorm (y = γ·(x − μ)·r + β, r = 1/√(σ² + ε), per channel of a
 * channels-last x) in seven dispatches instead of about twenty:
 *
 *   one pass over x and dy (two with the row split) gives s0 = Σ dy and s1 = Σ dy·(x − μ) per channel;
 *   dx = dy·γ·r (one element-wise pass);  dμ = −γ·r·s0;  dσ² = −½·γ·r³·s1;  dγ = r·s1;  dβ = s0.
 *
 * tfjs-core's gradient builds x − μ, dy·γ, a tiled copy of r at the full activation shape, and five
 * more full-size products before its four reductions (each of which the stock backend transposes
 * first). These are the same formulas, so the results match it to rounding. The gradient registry is
 * global: on other backends, and for shapes this does not cover (μ of rank > 1, no γ, not float32),
 * tfjs-core's gradient runs.
 */
export const BATCH_NORM_GRAD_SUMS_KERNEL = 'FaceganBatchNormGradSums';
export const BATCH_NORM_GRAD_VECTOR_KERNEL = 'FaceganBatchNormGradVector';
export const BATCH_NORM_GRAD_X_KERNEL = 'FaceganBatchNormGradX';

/** Which per-channel gradient the vector kernel computes. */
export type BatchNormGradVector = 'mean' | 'variance' | 'scale' | 'offset';
const VECTOR_FORMULA: Record<BatchNormGradVector, string> = {
  mean: '-scale[c] * r * sums[c]',
  variance: '-0.5 * scale[c] * r * r * r * sums[second + c]',
  scale: 'r * sums[second + c]',
  offset: 'sums[c]',
};

/**
 * A per-channel program over a channels-last `shape`: `expression` may use c (the channel), r = 1/√(σ² + ε),
 * sums[second + c] (the second row of a [2, C] input) and, with `count`, uniforms.count (the values per channel).
 * Where the channel count is a multiple of 4, a thread computes 4 channels as vec4s (c then indexes vec4s).
 */
export function channelProgram(variableNames: string[], shape: number[], key: string, expression: string, count = false): ElementwiseProgram {
  const vectorized = shape[shape.length - 1] % 4 === 0;
  return new ElementwiseProgram(
    variableNames,
    shape,
    `${key}${vectorized ? '_vec4' : ''}`,
    `channels : i32, varianceEpsilon : f32,${count ? ' count : f32,' : ''}`,
    // Every input is bound: with layout 'auto' an unused one would leave the pipeline without
    // its binding, the bind group invalid and the whole submit dropped.
    `${variableNames.map((name) => `_ = ${name}[0];`).join(' ')}
          let channels = uniforms.channels${vectorized ? ' / 4' : ''};
          let second = channels;
          let c = index % channels;
          let r = inverseSqrt(variance[c] + uniforms.varianceEpsilon);
          ${vectorized ? storeVec4(`(${expression})`) : `result[index] = ${expression};`}`,
    vectorized ? vec4Options(variableNames.length) : {},
  );
}

export function channelUniforms(channels: number, varianceEpsilon: number) {
  return [
    { type: 'int32', data: [channels] },
    { type: 'float32', data: [varianceEpsilon] },
  ];
}

function gradSumsWebGpu(args: KernelArgs<{ x: tf.TensorInfo; mean: tf.TensorInfo; dy: tf.TensorInfo }>): tf.TensorInfo {
  const { x, mean, dy } = args.inputs;
  return batchNormGradSums(args.backend as WebGPUBackend, x, mean, dy);
}

function gradVectorWebGpu(args: KernelArgs<{ sums: tf.TensorInfo; variance: tf.TensorInfo; scale: tf.TensorInfo }>): tf.TensorInfo {
  const { sums, variance, scale } = args.inputs;
  const { which, varianceEpsilon } = args.attrs as unknown as { which: BatchNormGradVector; varianceEpsilon: number };
  const channels = variance.shape[0];
  const program = channelProgram(['sums', 'variance', 'scale'], [channels], `faceganBatchNormGrad_${which}`, VECTOR_FORMULA[which]);
  return (args.backend as WebGPUBackend).runWebGPUProgram(program, [sums, variance, scale], 'float32', channelUniforms(channels, varianceEpsilon));
}

function gradXWebGpu(args: KernelArgs<{ dy: tf.TensorInfo; variance: tf.TensorInfo; scale: tf.TensorInfo }>): tf.TensorInfo {
  const { dy, variance, scale } = args.inputs;
  const { varianceEpsilon } = args.attrs as unknown as { varianceEpsilon: number };
  const program = channelProgram(['dy', 'variance', 'scale'], dy.shape, 'faceganBatchNormGradX', 'dy[index] * scale[c] * r');
  return (args.backend as WebGPUBackend).runWebGPUProgram(
    program,
    [dy, variance, scale],
    'float32',
    channelUniforms(variance.shape[0], varianceEpsilon),
  );
}

/**
 * FaceganBatchNormalization's training gradient (libs/model/src/batch-norm.ts): the sums pass, then
 * dx = γr·(dy − s0/N − (x − μ)·r²·s1/N) in one element-wise pass, dγ = r·s1 and dβ = s0 per channel.
 */
function batchNormTrainGradWebGpu(
  args: KernelArgs<{ x: tf.TensorInfo; mean: tf.TensorInfo; variance: tf.TensorInfo; scale: tf.TensorInfo; dy: tf.TensorInfo }>,
): tf.TensorInfo[] {
  const { x, mean, variance, scale, dy } = args.inputs;
  const { varianceEpsilon } = args.attrs as unknown as BatchNormTrainGradAttrs;
  const backend = args.backend as WebGPUBackend;
  const channels = variance.shape[0];
  const count = tf.util.sizeFromShape(x.shape) / channels;
  const sums = batchNormGradSums(backend, x, mean, dy);
  try {
    const dxProgram = channelProgram(
      ['dy', 'x', 'mean', 'variance', 'scale', 'sums'],
      x.shape,
      'faceganBatchNormTrainGradX',
      `scale[c] * r * (dy[index] - sums[c] / uniforms.count - (x[index] - mean[c]) * r * r * sums[second + c] / uniforms.count)`,
      true,
    );
    const dx = backend.runWebGPUProgram(dxProgram, [dy, x, mean, variance, scale, sums], 'float32', [
      ...channelUniforms(channels, varianceEpsilon),
      { type: 'float32', data: [count] },
    ]);
    const vector = (which: BatchNormGradVector) =>
      backend.runWebGPUProgram(
        channelProgram(['sums', 'variance', 'scale'], [channels], `faceganBatchNormGrad_${which}`, VECTOR_FORMULA[which]),
        [sums, variance, scale],
        'float32',
        channelUniforms(channels, varianceEpsilon),
      );
    return [dx, vector('scale'), vector('offset')];
  } finally {
    backend.disposeData(sums.dataId);
  }
}

/** average − (average − value)·decay: tfjs-layers' moving-average update (Sub, Multiply, Sub) in one dispatch. */
function movingAverageWebGpu(args: KernelArgs<{ average: tf.TensorInfo; value: tf.TensorInfo }>): tf.TensorInfo {
  const { average, value } = args.inputs;
  const { decay } = args.attrs as unknown as MovingAverageAttrs;
  const program = new ElementwiseProgram(
    ['average', 'value'],
    average.shape,
    'faceganMovingAverage',
    'decay : f32,',
    'result[index] = average[index] - (average[index] - value[index]) * uniforms.decay;',
  );
  return (args.backend as WebGPUBackend).runWebGPUProgram(program, [average, value], 'float32', [{ type: 'float32', data: [decay] }]);
}

export const batchNormGradWebGpuKernels: tf.KernelConfig[] = [
  webGpuKernel(BATCH_NORM_GRAD_SUMS_KERNEL, gradSumsWebGpu),
  webGpuKernel(BATCH_NORM_GRAD_VECTOR_KERNEL, gradVectorWebGpu),
  webGpuKernel(BATCH_NORM_GRAD_X_KERNEL, gradXWebGpu),
  webGpuKernel(BATCH_NORM_TRAIN_GRAD, batchNormTrainGradWebGpu),
  webGpuKernel(MOVING_AVERAGE, movingAverageWebGpu),
  webGpuKernel<{ x: tf.TensorInfo; mean: tf.TensorInfo }>(BATCH_VARIANCE, ({ inputs, backend }) => batchVariance(backend as WebGPUBackend, inputs.x, inputs.mean)),
];

function fusedKernelsAvailable(): boolean {
  return (
    tf.getBackend() === 'webgpu' &&
    [BATCH_NORM_GRAD_SUMS_KERNEL, BATCH_NORM_GRAD_VECTOR_KERNEL, BATCH_NORM_GRAD_X_KERNEL].every(
      (name) => tf.getKernel(name, 'webgpu') !== undefined,
    )
  );
}

/** Whether every one of `vectors` is a float32 vector of x's channels (the last axis) of a float32 x of rank ≥ 2. */
export function perChannelOf(x: tf.TensorInfo, vectors: Array<tf.TensorInfo | undefined>): boolean {
  const channels = x.shape[x.shape.length - 1];
  const isChannelVector = (t: tf.TensorInfo | undefined) => t != null && t.shape.length === 1 && t.shape[0] === channels && t.dtype === 'float32';
  return x.shape.length >= 2 && x.dtype === 'float32' && vectors.every(isChannelVector);
}

/** Whether the fused gradient covers this call: per-channel μ, σ², γ of a channels-last float32 x. */
function covered(x: tf.Tensor, mean: tf.Tensor, variance: tf.Tensor, scale: tf.Tensor | undefined): scale is tf.Tensor {
  return perChannelOf(x, [mean, variance, scale]);
}

/**
 * Builds the FusedBatchNorm gradient config; `stock` (tfjs-core's) handles what the fused path does
 * not (see the top of this file).
 */
export function fusedBatchNormGradient(stock: tf.GradConfig): tf.GradConfig {
  return {
    kernelName: tf.FusedBatchNorm,
    inputsToSave: ['x', 'mean', 'variance', 'scale'],
    gradFunc: (dy, saved, attrs) => {
      const [x, mean, variance, scale] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor | undefined];
      const dyTensor = dy as tf.Tensor;
      if (!fusedKernelsAvailable() || !covered(x, mean, variance, scale) || dyTensor.dtype !== 'float32') {
        return stock.gradFunc(dy, saved, attrs);
      }
      const { varianceEpsilon } = attrs as unknown as { varianceEpsilon: number };
      const run = (kernel: string, inputs: tf.NamedTensorMap, kernelAttrs: object) =>
        tf.engine().runKernel(kernel, inputs, kernelAttrs as unknown as tf.NamedAttrMap) as tf.Tensor;
      // Computed now, not in the closures: the tape runs each closure in its own tidy, and all four
      // per-channel gradients share these sums. [2, C]: a few bytes kept until backprop ends.
      const sums = run(BATCH_NORM_GRAD_SUMS_KERNEL, { x, mean, dy: dyTensor }, {});
      const vector = (which: BatchNormGradVector) => () =>
        run(BATCH_NORM_GRAD_VECTOR_KERNEL, { sums, variance, scale }, { which, varianceEpsilon });
      return {
        x: () => run(BATCH_NORM_GRAD_X_KERNEL, { dy: dyTensor, variance, scale }, { varianceEpsilon }),
        mean: vector('mean'),
        variance: vector('variance'),
        scale: vector('scale'),
        offset: vector('offset'),
      };
    },
  };
}
