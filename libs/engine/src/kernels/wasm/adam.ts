/**
 * The fused Adam kernels (see fused-adam.ts) on 'wasm': one JavaScript pass over heap views per
 * kernel, in place of the ~12 stock kernels (and their engine bookkeeping) per variable. Each value
 * is computed in float64 and rounded to float32 once, when stored (Math.fround after every operation,
 * as the stock kernels round, took 2.3x as long: ~5 ms a step for the seed model's 300k weights).
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { adamBiasCorrections, ADAM_MOMENT_KERNEL, ADAM_WEIGHT_KERNEL, type AdamMomentAttrs, type AdamWeightAttrs } from '../../fused-adam';
import { heapView } from './compose';

export function createAdamMomentKernel(): KernelConfig {
  const kernelFunc: KernelFunc = (args) => {
    const backend = args.backend as BackendWasm;
    const { x, g } = args.inputs as { x: TensorInfo; g: TensorInfo };
    const { decay, power } = args.attrs as unknown as AdamMomentAttrs;
    const out = backend.makeOutput(x.shape, 'float32');
    const [moment, gradient, result] = [x, g, out].map((info) => heapView(backend, info));
    const rest = 1 - decay;
    if (power === 2) {
      for (let i = 0; i < result.length; i++) result[i] = moment[i] * decay + gradient[i] * gradient[i] * rest;
    } else {
      for (let i = 0; i < result.length; i++) result[i] = moment[i] * decay + gradient[i] * rest;
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
    const { oneMinusBeta1Power, oneMinusBeta2Power } = adamBiasCorrections(attrs);
    const epsilon = attrs.epsilon;
    const step = -attrs.learningRate;
    for (let i = 0; i < result.length; i++) {
      result[i] = (first[i] / oneMinusBeta1Power / (Math.sqrt(second[i] / oneMinusBeta2Power) + epsilon)) * step + weight[i];
    }
    return out;
  };
  return { kernelName: ADAM_WEIGHT_KERNEL, backendName: 'wasm', kernelFunc };
}
