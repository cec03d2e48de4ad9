import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';

/** Counts the programs `backend` runs from now on (for the benchmarks' dispatches per step); returns the count so far. */
export function countDispatches(backend: WebGPUBackend): () => number {
  let dispatches = 0;
  const run = backend.runWebGPUProgram;
  backend.runWebGPUProgram = function (this: WebGPUBackend, ...args: Parameters<WebGPUBackend['runWebGPUProgram']>) {
    dispatches++;
    return run.apply(this, args);
  };
  return () => dispatches;
}
