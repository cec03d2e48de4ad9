/**
 * The fused Adam kernels (see fused-adam.ts) on 'wasm': one JavaScript pass over heap views per
 * kernel, in place of the ~12 stock kernels (and their engine bookkeeping) per variable. Each
 * operation is rounded to float32 as the stock kernels would round it.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { ADAM_MOMENT_KERNEL, ADAM_WEIGHT_KERNEL, type AdamMomentAttrs, type AdamWeightAttrs } from '../../fused-adam';
import { heapView } from './compose';

const f32 = Math.fround;

export function createAdamMomentKernel(): KernelConfig {
  const kernelFunc: KernelFunc = (args) => {
    const backend = args.backend as BackendWasm;
    const { x, g } = args.inputs as { x: TensorInfo; g: TensorInfo };
    const { decay, power } = args.attrs as unknown as AdamMomentAttrs;
    const out = backend.makeOutput(x.shape, 'float32');
    const [moment, gradient, result] = [x, g, out].map((info) => heapView(backend, info));
    const keep = f32(decay);
    const rest = f32(1 - decay);
    if (power === 2) {
      for (let i = 0; i < result.length; i++) result[i] = f32(moment[i] * keep) + f32(f32(gradient[i] * gradient[i]) * rest);
    } else {
      for (let i = 0; i < result.length; i++) result[i] = f32(moment[i] * keep) + f32(gradient[i] * rest);
    }
    return out;
  };
  return { kernelName: ADAM_MOMENT_KERNEL, backendName: 'wasm', kernelFunc };
}

export function createAdamWeightKernel(): KernelConfig {
  const kernelFunc: KernelFunc = (args) => {
    const backend = args.backend as BackendWasm;
    const { w, m, v } = args.inputs as { w: TensorInfo; m: TensorInfo; v: TensorInfo };
    const attrs = args.attrs as unknown as AdamWeightAttrs;
    const out = backend.makeOutput(w.shape, 'float32');
    const [weight, first, second, result] = [w, m, v, out].map((info) => heapView(backend, info));
    const correction1 = f32(attrs.oneMinusBeta1Power);
    const correction2 = f32(attrs.oneMinusBeta2Power);
    const epsilon = f32(attrs.epsilon);
    const step = f32(-attrs.learningRate);
    for (let i = 0; i < result.length; i++) {
      const mHat = f32(first[i] / correction1);
      const vHat = f32(second[i] / correction2);
      result[i] = f32(f32(mHat / f32(f32(Math.sqrt(vHat)) + epsilon)) * step) + weight[i];
    }
    return out;
  };
  return { kernelName: ADAM_WEIGHT_KERNEL, backendName: 'wasm', kernelFunc };
}
