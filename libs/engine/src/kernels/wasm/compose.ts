/**
 * Helpers for wasm kernels built out of other wasm kernels.
 *
 * A kernelFunc runs below the engine: it receives and returns TensorInfos (backend data ids), not
 * Tensors, so ops (tf.conv2d, tf.transpose...) must not be called from inside one. Instead we call
 * the kernelFunc that is registered for 'wasm' straight from the kernel registry: its setupFunc has
 * already bound the wasm exports when the backend was initialised, so this is exactly what the
 * engine would run, minus the engine's bookkeeping. Every TensorInfo a kernelFunc returns is owned by
 * the caller; intermediates go into a {@link Scratch} and are released with backend.disposeData.
 */
import { getKernel, type DataType, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

export type WasmKernelInputs = Record<string, TensorInfo>;

/** Runs the kernel currently registered for 'wasm' under `kernelName` (single-output kernels only). */
export function runWasmKernel(
  backend: BackendWasm,
  kernelName: string,
  inputs: WasmKernelInputs,
  attrs: NamedAttrMap = {},
): TensorInfo {
  const config = getKernel(kernelName, 'wasm');
  if (config === undefined) {
    throw new Error(`wasm training kernels: kernel '${kernelName}' is not registered for 'wasm'`);
  }
  const out = config.kernelFunc({ inputs, attrs, backend });
  if (Array.isArray(out)) {
    throw new Error(`wasm training kernels: '${kernelName}' returned ${out.length} outputs, expected one`);
  }
  return out;
}

/** Intermediate backend data owned by one kernel invocation, released together. */
export class Scratch {
  private readonly owned: TensorInfo[] = [];
  private readonly views: TensorInfo[] = [];

  constructor(readonly backend: BackendWasm) {}

  /** Records `info` for disposal and hands it back. */
  track(info: TensorInfo): TensorInfo {
    this.owned.push(info);
    return info;
  }

  /** A fresh float32/int32 buffer on the wasm heap, owned by this scratch. */
  alloc(shape: number[], dtype: DataType = 'float32'): TensorInfo {
    return this.track(this.backend.makeOutput(shape, dtype));
  }

  /** A float32 tensor of `shape` holding `values` (small per-channel vectors). */
  constant(values: ArrayLike<number>, shape: number[] = [values.length]): TensorInfo {
    const info = this.alloc(shape);
    heapView(this.backend, info).set(values);
    return info;
  }

  /** Runs a wasm kernel whose output is an intermediate. */
  run(kernelName: string, inputs: WasmKernelInputs, attrs: NamedAttrMap = {}): TensorInfo {
    return this.track(runWasmKernel(this.backend, kernelName, inputs, attrs));
  }

  /**
   * A tensor of `shape` over the float32 data of `base` from element `offset` on: no copy. Kernels read
   * it like any input (XNNPACK reads rows of a matrix from it). It may reach outside `base` (the
   * caller makes sure what lies there is harmless) and must not outlive it; released with the scratch.
   */
  view(base: TensorInfo, offset: number, shape: number[]): TensorInfo {
    const { memoryOffset } = this.backend.dataIdMap.get(base.dataId);
    const info = this.backend.makeOutput(shape, 'float32', memoryOffset + offset * Float32Array.BYTES_PER_ELEMENT);
    this.views.push(info);
    return info;
  }

  disposeAll(): void {
    // A view is forgotten, not freed: backend.disposeData would free() memory it does not own.
    for (const view of this.views.splice(0)) {
      const { id } = this.backend.dataIdMap.get(view.dataId);
      this.backend.wasm.tfjs.disposeData(id);
      this.backend.dataIdMap.delete(view.dataId);
    }
    for (const info of this.owned.splice(0)) this.backend.disposeData(info.dataId);
  }
}

/**
 * Runs `body` with a scratch that is emptied afterwards, also when `body` throws. A TensorInfo that
 * `body` returns as the kernel's output must not be tracked by the scratch.
 */
export function withScratch<T>(backend: BackendWasm, body: (scratch: Scratch) => T): T {
  const scratch = new Scratch(backend);
  try {
    return body(scratch);
  } finally {
    scratch.disposeAll();
  }
}

/**
 * A Float32Array view on the wasm heap. Views go stale when the heap grows (any allocation may grow
 * it), so take them after the last makeOutput of a phase and do not keep them.
 */
export function heapView(backend: BackendWasm, info: TensorInfo): Float32Array {
  if (info.dtype !== 'float32') {
    throw new Error(`wasm training kernels: expected float32 data, got ${info.dtype}`);
  }
  return backend.typedArrayFromHeap(info) as Float32Array;
}

/** The whole wasm heap as float32s (stale once the heap grows: take it after the last makeOutput). */
export function heapFloats(backend: BackendWasm): Float32Array {
  // (HEAPU8 is on both the single-threaded and the threaded module; their union type does not say so)
  return new Float32Array((backend.wasm as unknown as { HEAPU8: Uint8Array }).HEAPU8.buffer);
}

/** Where `info`'s float32 data starts in heapFloats(). */
export function floatOffset(backend: BackendWasm, info: TensorInfo): number {
  return backend.dataIdMap.get(info.dataId).memoryOffset / Float32Array.BYTES_PER_ELEMENT;
}
