import * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { channelProgram, channelUniforms, perChannelOf } from './batch-norm-grad';
import { ElementwiseProgram, storeVec4, vec4Options } from './elementwise-program';
import { webGpuKernelWithFallback } from './webgpu-kernel';

/**
 * FusedBatchNorm, Relu and LeakyRelu forward, 4 channels a thread. tfjs-backend-webgpu runs them one element a
 * thread, and its batch norm maps every output index to the mean's, variance's, offset's and scale's by
 * coordinates (integer divisions per input): on the H200 (2026-11-27) the generator's last batch norm and ReLU
 * (128×64×64×128) took 0.38 and 0.37 ms, about 1.4 TB/s of a card that moves 4.8. Same formulas; the stock
 * kernels run whatever these do not cover (other dtypes, sizes not a multiple of 4, broadcast statistics).
 */

type BatchNormInputs = { x: tf.TensorInfo; mean: tf.TensorInfo; variance: tf.TensorInfo; offset?: tf.TensorInfo; scale?: tf.TensorInfo };

export function fusedBatchNormVec4Kernel(fallback: tf.KernelConfig | undefined): tf.KernelConfig {
  return webGpuKernelWithFallback<BatchNormInputs>(tf.FusedBatchNorm, fallback, ({ inputs, attrs, backend }) => {
    const { x, mean, variance, offset, scale } = inputs;
    const channels = x.shape[x.shape.length - 1];
    if (channels % 4 !== 0 || !perChannelOf(x, [mean, variance, offset, scale]) || tf.util.sizeFromShape(x.shape) === 0) return undefined;
    const { varianceEpsilon } = attrs as unknown as { varianceEpsilon: number };
    const program = channelProgram(['x', 'mean', 'variance', 'offset', 'scale'], x.shape, 'faceganBatchNorm', '(x[index] - mean[c]) * (scale[c] * r) + offset[c]');
    return (backend as WebGPUBackend).runWebGPUProgram(
      program,
      [x, mean, variance, offset as tf.TensorInfo, scale as tf.TensorInfo],
      'float32',
      channelUniforms(channels, varianceEpsilon),
    );
  });
}

/** α·x where x < 0, else x (Relu: α = 0), as tfjs computes it; NaN stays NaN. */
function rectifierVec4Kernel(kernelName: string, fallback: tf.KernelConfig | undefined, alphaOf: (attrs: tf.NamedAttrMap) => number): tf.KernelConfig {
  return webGpuKernelWithFallback<{ x: tf.TensorInfo }>(kernelName, fallback, ({ inputs, attrs, backend }) => {
    const { x } = inputs;
    const size = tf.util.sizeFromShape(x.shape);
    if (x.dtype !== 'float32' || size === 0 || size % 4 !== 0) return undefined;
    const program = new ElementwiseProgram(
      ['x'],
      x.shape,
      'faceganRectifier_vec4',
      'alpha : f32,',
      `let a = x[index];
          ${storeVec4('select(a, a * uniforms.alpha, a < vec4<f32>(0.0))')}`,
      vec4Options(1),
    );
    return (backend as WebGPUBackend).runWebGPUProgram(program, [x], 'float32', [{ type: 'float32', data: [alphaOf(attrs)] }]);
  });
}

export function reluVec4Kernel(fallback: tf.KernelConfig | undefined): tf.KernelConfig {
  return rectifierVec4Kernel(tf.Relu, fallback, () => 0);
}

export function leakyReluVec4Kernel(fallback: tf.KernelConfig | undefined): tf.KernelConfig {
  return rectifierVec4Kernel(tf.LeakyRelu, fallback, (attrs) => (attrs as unknown as tf.LeakyReluAttrs).alpha);
}
