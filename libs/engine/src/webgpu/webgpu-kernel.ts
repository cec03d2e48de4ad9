import * as tf from '@tensorflow/tfjs';

/** What tfjs passes a kernel function, with the inputs typed. */
export type KernelArgs<I> = { inputs: I; backend: tf.KernelBackend; attrs: tf.NamedAttrMap };

/** The webgpu kernel config for `kernelFunc` (tfjs types kernel functions loosely). */
export function webGpuKernel<I>(kernelName: string, kernelFunc: (args: KernelArgs<I>) => tf.TensorInfo | tf.TensorInfo[]): tf.KernelConfig {
  return { kernelName, backendName: 'webgpu', kernelFunc: kernelFunc as unknown as tf.KernelFunc };
}

/**
 * The webgpu kernel config for a kernel of ours that covers only some calls: `run` returns undefined
 * for a call it does not cover, and `fallback` (the stock kernel) runs that call.
 */
export function webGpuKernelWithFallback<I>(
  kernelName: string,
  fallback: tf.KernelConfig | undefined,
  run: (args: KernelArgs<I>) => tf.TensorInfo | undefined,
): tf.KernelConfig {
  return webGpuKernel<I>(kernelName, (args) => {
    const result = run(args);
    if (result) return result;
    if (!fallback) throw new Error(`${kernelName}: this call needs the stock webgpu kernel`);
    return fallback.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0]);
  });
}
