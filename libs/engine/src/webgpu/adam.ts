import type * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { adamBiasCorrections, ADAM_MOMENT_KERNEL, ADAM_WEIGHT_KERNEL, type AdamMomentAttrs, type AdamWeightAttrs } from '../fused-adam';
import type { ProgramUniform } from './dispatch-cache';
import { ElementwiseProgram } from './elementwise-program';
import { webGpuKernel, type KernelArgs } from './webgpu-kernel';

/** The fused Adam kernels (see fused-adam.ts) on webgpu: every constant in the kernels' uniforms. */
function adamMomentWebGpu(args: KernelArgs<{ x: tf.TensorInfo; g: tf.TensorInfo }>): tf.TensorInfo {
  const { x, g } = args.inputs;
  const { decay, power } = args.attrs as unknown as AdamMomentAttrs;
  const term = power === 2 ? 'g[index] * g[index]' : 'g[index]';
  const program = new ElementwiseProgram(
    ['x', 'g'],
    x.shape,
    `faceganAdamMoment${power}`,
    'decay : f32, rest : f32,',
    // The same two products and sum as tfjs's add(mul(m, β), mul(g, 1 − β)).
    `result[index] = x[index] * uniforms.decay + ${term} * uniforms.rest;`,
  );
  const uniforms = [
    { type: 'float32', data: [decay] },
    { type: 'float32', data: [1 - decay] },
  ];
  return (args.backend as WebGPUBackend).runWebGPUProgram(program, [x, g], 'float32', uniforms);
}

function adamWeightWebGpu(args: KernelArgs<{ w: tf.TensorInfo; m: tf.TensorInfo; v: tf.TensorInfo }>): tf.TensorInfo {
  const { w, m, v } = args.inputs;
  const attrs = args.attrs as unknown as AdamWeightAttrs;
  const program = new ElementwiseProgram(
    ['w', 'm', 'v'],
    w.shape,
    'faceganAdamWeight',
    'negativeLearningRate : f32, oneMinusBeta1Power : f32, oneMinusBeta2Power : f32, epsilon : f32,',
    `let mHat = m[index] / uniforms.oneMinusBeta1Power;
          let vHat = v[index] / uniforms.oneMinusBeta2Power;
          result[index] = mHat / (sqrt(vHat) + uniforms.epsilon) * uniforms.negativeLearningRate + w[index];`,
    { volatileUniforms: true }, // the bias corrections change every step
  );
  // a replayed step (step-replay.ts) runs this update again with the bias corrections of a later one
  program.uniformsStepsAhead = (steps) => adamWeightUniforms({ ...attrs, step: attrs.step + steps });
  return (args.backend as WebGPUBackend).runWebGPUProgram(program, [w, m, v], 'float32', adamWeightUniforms(attrs));
}

function adamWeightUniforms(attrs: AdamWeightAttrs): ProgramUniform {
  const { oneMinusBeta1Power, oneMinusBeta2Power } = adamBiasCorrections(attrs);
  return [
    { type: 'float32', data: [-attrs.learningRate] },
    { type: 'float32', data: [oneMinusBeta1Power] },
    { type: 'float32', data: [oneMinusBeta2Power] },
    { type: 'float32', data: [attrs.epsilon] },
  ];
}

export const adamMomentWebGpuKernel = webGpuKernel(ADAM_MOMENT_KERNEL, adamMomentWebGpu);
export const adamWeightWebGpuKernel = webGpuKernel(ADAM_WEIGHT_KERNEL, adamWeightWebGpu);
