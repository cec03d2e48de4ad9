import * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { ElementwiseProgram, storeVec4, vec4Options } from './elementwise-program';
import { webGpuKernel, type KernelArgs } from './webgpu-kernel';

/**
 * The gradients of LeakyRelu, Relu and Square as one element-wise kernel each on webgpu. tfjs-core's
 * take three dispatches for LeakyRelu (Greater, Multiply by α — with a scalar upload — and Select),
 * two for Relu (Step, Multiply) and two for Square (x·2 — another scalar upload — then ·dy, in every
 * batch-norm variance), each a full pass over the activation; the discriminator's five LeakyReLUs are
 * differentiated three times a step. Same values, same rounding: dy where x > 0, else α·dy (0 for
 * Relu); dy·(2x) for Square. The gradient registry is global: on other backends, and for non-float32
 * tensors, tfjs-core's run.
 */
export const ACTIVATION_GRAD_KERNEL = 'FaceganActivationGrad';

/** 'rectifier': LeakyRelu (α) and Relu (α = 0); 'square': Square. */
export type ActivationGradKind = 'rectifier' | 'square';

const GRADIENT: Record<ActivationGradKind, (zero: string) => string> = {
  rectifier: (zero) => `select(g * uniforms.alpha, g, x[index] > ${zero})`,
  square: () => 'g * (x[index] * 2.0)',
};

function activationGradWebGpu(args: KernelArgs<{ dy: tf.TensorInfo; x: tf.TensorInfo }>): tf.TensorInfo {
  const { dy, x } = args.inputs;
  const { alpha, kind } = args.attrs as unknown as { alpha: number; kind: ActivationGradKind };
  // 4 elements a thread (vec4 loads) where the size allows
  const vectorized = tf.util.sizeFromShape(x.shape) % 4 === 0;
  const gradient = GRADIENT[kind](vectorized ? 'vec4<f32>(0.0)' : '0.0');
  const program = new ElementwiseProgram(
    ['dy', 'x'],
    x.shape,
    `faceganActivationGrad_${kind}${vectorized ? '_vec4' : ''}`,
    'alpha : f32,',
    `let g = dy[index];
          _ = uniforms.alpha;
          ${vectorized ? storeVec4(`(${gradient})`) : `result[index] = ${gradient};`}`,
    vectorized ? vec4Options(2) : {},
  );
  return (args.backend as WebGPUBackend).runWebGPUProgram(program, [dy, x], 'float32', [{ type: 'float32', data: [alpha] }]);
}

export const activationGradWebGpuKernel = webGpuKernel(ACTIVATION_GRAD_KERNEL, activationGradWebGpu);

function fused(dy: tf.Tensor, x: tf.Tensor): boolean {
  return (
    tf.getBackend() === 'webgpu' &&
    tf.getKernel(ACTIVATION_GRAD_KERNEL, 'webgpu') !== undefined &&
    dy.dtype === 'float32' &&
    x.dtype === 'float32' &&
    tf.util.arraysEqual(dy.shape, x.shape)
  );
}

function activationGradient(
  kernelName: string,
  stock: tf.GradConfig,
  kind: ActivationGradKind,
  alphaOf: (attrs: tf.NamedAttrMap) => number,
): tf.GradConfig {
  return {
    kernelName,
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved;
      const dyTensor = dy as tf.Tensor;
      if (!fused(dyTensor, x)) return stock.gradFunc(dy, saved, attrs);
      const alpha = alphaOf(attrs);
      return {
        x: () => tf.engine().runKernel(ACTIVATION_GRAD_KERNEL, { dy: dyTensor, x }, { alpha, kind } as unknown as tf.NamedAttrMap) as tf.Tensor,
      };
    },
  };
}

/** The LeakyRelu gradient config; `stock` (tfjs-core's) runs where the fused kernel does not. */
export function leakyReluGradient(stock: tf.GradConfig): tf.GradConfig {
  return activationGradient(tf.LeakyRelu, stock, 'rectifier', (attrs) => (attrs as unknown as tf.LeakyReluAttrs).alpha);
}

/** The Relu gradient config; `stock` (tfjs-core's) runs where the fused kernel does not. */
export function reluGradient(stock: tf.GradConfig): tf.GradConfig {
  return activationGradient(tf.Relu, stock, 'rectifier', () => 0);
}

/** The Square gradient config; `stock` (tfjs-core's) runs where the fused kernel does not. */
export function squareGradient(stock: tf.GradConfig): tf.GradConfig {
  return activationGradient(tf.Square, stock, 'square', () => 0);
}
