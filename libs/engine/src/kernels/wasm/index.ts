/**
 * Registers the project's kernels for the tfjs `wasm` backend: the gradient kernels it lacks
 * (Conv2DBackpropFilter) or has slow (Conv2DBackpropInput). Idempotent.
 */
export function registerWasmTrainingKernels(): void {
  // filled in by the kernels work
}
