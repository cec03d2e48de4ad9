/**
 * Identity for 'wasm' that shares the input's data (reference-counted, like the wasm Reshape and the
 * cpu backend's Identity) instead of copying it. tfjs clones every tensor a gradient will need when
 * it records the tape (engine.saveTensorsForBackwardMode) and in some gradients: ~700 clones per seed
 * DCGAN step, most of them of activations, ~26 ms of copies at 32 px width 0.25 batch 32. tfjs tensor
 * data is never written in place, so sharing is safe. Strings take the stock kernel.
 */
import { Identity, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

export function createIdentityKernel(fallback: KernelFunc | undefined): KernelConfig {
  const kernelFunc: KernelFunc = (args) => {
    const backend = args.backend as BackendWasm;
    const { x } = args.inputs as { x: TensorInfo };
    if (x.dtype === 'string') {
      if (fallback === undefined) throw new Error('wasm Identity: no stock kernel to fall back to');
      return fallback(args);
    }
    backend.incRef(x.dataId);
    return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
  };
  return { kernelName: Identity, backendName: 'wasm', kernelFunc };
}
