import * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { NO_ADAPTER_MESSAGE, describeAdapter, requestAdapter } from './dawn';
import { setGemmTuningAdapter } from './gemm-tuning';
import { dispatchCacheEnabled, installDispatchCaches } from './dispatch-cache';
import { installWebGpuOverrides } from './overrides';

export { describeAdapterInfo, NO_ADAPTER_MESSAGE, pacedDawnWait } from './dawn';
export { dropoutOnGpu, GpuDropout, hasGpuDropoutKernel, dropoutMaskOnCpu, withGpuDropout, GPU_DROPOUT_KERNEL } from './dropout';
export type { GpuDropoutLayerArgs } from './dropout';
export { randomNormalOnGpu, randomNormalOnCpu } from './random-normal';
export { backpropFilterGemm, planBackpropFilter } from './conv2d-backprop-filter';
export { columnReduce, planColumnReduce } from './reduce';
export { backpropInputGemm, planBackpropInput } from './conv2d-backprop-input';
export { forwardConvGemm } from './conv2d-forward';
export { gemmTileLimit, setGemmTileLimit } from './gemm-tiles';
export { gemmDoubleBuffer, gemmPrefetch, gemmVectorTiles, setGemmDoubleBuffer, setGemmPrefetch, setGemmVectorTiles } from './conv-gemm';
export type { GemmTileLimit } from './gemm-tiles';
export type { GemmVariant } from './conv-gemm';
export {
  autotuneGemms,
  clearGemmTuning,
  formatGemmTuning,
  GEMM_VARIANTS,
  gemmAutotuneDefault,
  gemmTuning,
  gemmTuningTotals,
  loadGemmTuning,
  queueAndTune,
  saveGemmTuning,
  recordGemmProblems,
  setGemmTuning,
} from './gemm-tuning';
export type { AutotuneOptions, GemmProblem, GemmTuningResult } from './gemm-tuning';
export {
  dispatchCacheEnabled,
  dispatchCachesInstalled,
  dispatchCacheStats,
  installDispatchCaches,
  markGpuStep,
  removeDispatchCaches,
  warmDispatchCaches,
} from './dispatch-cache';
export type { DispatchCacheStats } from './dispatch-cache';
export { createStepReplay, stepReplayEnabled } from './step-replay';
export type { StepReplay, StepReplayStats } from './step-replay';
export type { WebGpuOverrideSet } from './overrides';
export { installWebGpuOverrides, removeWebGpuOverrides, webGpuOverridesInstalled } from './overrides';

export interface WebGpuInfo {
  backend: 'webgpu';
  /** Human-readable adapter, e.g. "NVIDIA H200 (nvidia, hopper)". */
  device: string;
  /** lavapipe/llvmpipe and other CPU adapters: it works, but is no faster than the CPU backends. */
  isSoftware: boolean;
}

export interface WebGpuProbe {
  ok: boolean;
  device?: string;
  isSoftware?: boolean;
  /** Why there is no usable adapter, when ok is false. */
  reason?: string;
}

/**
 * Finds the WebGPU adapter without switching backends (for `--backend auto`, which should take
 * webgpu only when `ok && !isSoftware`). Never throws.
 */
export async function probeWebGpu(): Promise<WebGpuProbe> {
  try {
    const adapter = await requestAdapter();
    if (!adapter) return { ok: false, reason: NO_ADAPTER_MESSAGE };
    return { ok: true, ...describeAdapter(adapter) };
  } catch (error) {
    return { ok: false, reason: `${NO_ADAPTER_MESSAGE} (${errorText(error)})` };
  }
}

/**
 * Makes tfjs train on WebGPU through Dawn: installs `navigator.gpu`, imports the webgpu backend (it
 * registers itself only if navigator.gpu exists at import time), switches to it and registers the
 * project's kernels and gradient overrides. Throws a clear Error where there is no adapter.
 */
export async function initWebGpu(): Promise<WebGpuInfo> {
  let adapter: GPUAdapter | null;
  try {
    adapter = await requestAdapter();
  } catch (error) {
    throw new Error(`${NO_ADAPTER_MESSAGE} (${errorText(error)})`, { cause: error });
  }
  if (!adapter) throw new Error(NO_ADAPTER_MESSAGE);
  const described = describeAdapter(adapter);

  await import('@tensorflow/tfjs-backend-webgpu');
  if (!tf.findBackendFactory('webgpu')) {
    throw new Error(`${NO_ADAPTER_MESSAGE} (@tensorflow/tfjs-backend-webgpu did not register: navigator.gpu was missing when it was first imported)`);
  }
  const switched = await tf.setBackend('webgpu');
  if (!switched) throw new Error(`${NO_ADAPTER_MESSAGE} (tf.setBackend('webgpu') failed on ${described.device})`);
  await tf.ready();
  installWebGpuOverrides();
  if (dispatchCacheEnabled()) installDispatchCaches(tf.backend() as WebGPUBackend);
  setGemmTuningAdapter(described.device, described.isSoftware);
  return { backend: 'webgpu', ...described };
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
