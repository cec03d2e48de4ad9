/**
 * Identity for 'wasm' that shares the input's data (reference-counted, like the wasm Reshape and the
 * cpu backend's Identity) instead of copying it. tfjs clones every tensor a gradient will need when
 * it records the tape (engine.saveTensorsForBackwardMode) and in some gradients: ~700 clones per seed
 * DCGAN step, most of them of activations, ~26 ms of copies at 32 px width 0.25 batch 32. tfjs tensor
 * data is never written in place, so sharing is safe. Strings take the stock kernel.
 *
 * Cast to the dtype a tensor already has is the same identity (tf.moments casts every batch-norm input
 * to float32: 57 copies a step, ~5 ms); other casts take the stock kernel.
 */
import { Cast, Identity, type DataType, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

function shared(backend: BackendWasm, x: TensorInfo): TensorInfo {
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
}

function sharingKernel(kernelName: string, fallback: KernelFunc | undefined, shares: (x: TensorInfo, attrs: object | undefined) => boolean): KernelConfig {
  const kernelFunc: KernelFunc = (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    if (x.dtype !== 'string' && shares(x, args.attrs)) return shared(args.backend as BackendWasm, x);
    if (fallback === undefined) throw new Error(`wasm ${kernelName}: no stock kernel to fall back to`);
    return fallback(args);
  };
  return { kernelName, backendName: 'wasm', kernelFunc };
}

export function createIdentityKernel(fallback: KernelFunc | undefined): KernelConfig {
  return sharingKernel(Identity, fallback, () => true);
}

export function createCastKernel(fallback: KernelFunc | undefined): KernelConfig {
  return sharingKernel(Cast, fallback, (x, attrs) => (attrs as { dtype?: DataType } | undefined)?.dtype === x.dtype);
}
