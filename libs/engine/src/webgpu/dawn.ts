/**
 * Dawn for Node (npm `webgpu`): one GPU instance per process, exposed as `navigator.gpu` so that
 * `@tensorflow/tfjs-backend-webgpu` (which looks for it when it is imported) can find it.
 */

export const NO_ADAPTER_MESSAGE =
  'no WebGPU adapter: install a Vulkan driver (on Debian: mesa-vulkan-drivers from bookworm-backports for lavapipe) ' +
  'or use --backend wasm';

export interface AdapterDescription {
  /** Human-readable, e.g. "NVIDIA H200 (nvidia, hopper)" or "llvmpipe: Mesa 25.0.7 ... (mesa, software)". */
  device: string;
  /** A CPU implementation (lavapipe/llvmpipe, SwiftShader, a fallback adapter): usable, far too slow to train. */
  isSoftware: boolean;
}

let gpu: GPU | undefined;

/**
 * Dawn's toggles facegan turns on: the project's shaders and tfjs's guard their own indices, and are tested
 * against the CPU backend, so Dawn's robustness clamps (on every array index of the GEMMs' inner loops), its
 * zeroing of workgroup memory and its validation of every call only cost time. Measured on an H200
 * (2026-11-27): the trainer's step 41.5 → 39.1 ms at 64 px and 69.6 → 62.9 ms at 96 px, the same losses.
 */
export const DEFAULT_DAWN_FLAGS = ['enable-dawn-features=disable_robustness,disable_workgroup_init,skip_validation'];

/**
 * Options for Dawn's `create()`: DEFAULT_DAWN_FLAGS, or FACEGAN_DAWN_FLAGS when it is set, space-separated, as
 * the npm `webgpu` package documents them (e.g. `enable-dawn-features=...` or `adapter=...`); set and empty
 * gives Dawn's own defaults (robustness and validation on), for debugging a shader.
 */
export function dawnFlags(env: NodeJS.ProcessEnv = process.env): string[] {
  const flags = env['FACEGAN_DAWN_FLAGS'];
  if (flags === undefined) return [...DEFAULT_DAWN_FLAGS];
  return flags.split(/\s+/).filter((flag) => flag !== '');
}

/** Creates Dawn's GPU object once and installs it as `navigator.gpu`. Throws when dawn.node cannot be loaded. */
export async function dawnGpu(): Promise<GPU> {
  if (gpu) return gpu;
  // Imported lazily: loading dawn.node fails on machines without a Vulkan loader, and callers
  // that only probe must get a clear answer rather than a failed import of this whole module.
  const { create, globals } = await import('webgpu');
  Object.assign(globalThis, globals);
  gpu = create(dawnFlags());
  setNavigatorGpu(gpu);
  return gpu;
}

function setNavigatorGpu(value: GPU): void {
  const holder = globalThis as { navigator?: object };
  if (holder.navigator === undefined) {
    // Node 20 has no navigator; later versions have one without `gpu`.
    Object.defineProperty(globalThis, 'navigator', { value: { gpu: value }, configurable: true, writable: true });
  } else {
    Object.defineProperty(holder.navigator, 'gpu', { value, configurable: true, writable: true });
  }
}

/** Requests the high-performance adapter tfjs-backend-webgpu will use; null when there is none. */
export async function requestAdapter(): Promise<GPUAdapter | null> {
  const instance = await dawnGpu();
  return instance.requestAdapter({ powerPreference: 'high-performance' });
}

export function describeAdapter(adapter: GPUAdapter): AdapterDescription {
  return describeAdapterInfo(adapter.info as AdapterInfoLike);
}

/** The fields of GPUAdapterInfo we read; `isFallbackAdapter` and `adapterType` are newer, maybe absent. */
export interface AdapterInfoLike {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
  adapterType?: string;
}

export function describeAdapterInfo(info: AdapterInfoLike): AdapterDescription {
  const vendor = info.vendor ?? '';
  const architecture = info.architecture ?? '';
  const name = info.description || info.device || 'unknown adapter';
  const text = [vendor, architecture, info.device ?? '', info.description ?? ''].join(' ');
  const isSoftware =
    info.isFallbackAdapter === true ||
    info.adapterType === 'cpu' ||
    architecture === 'software' ||
    /lavapipe|llvmpipe|swiftshader|softpipe/i.test(text);
  const details = [vendor, architecture].filter((part) => part !== '').join(', ');
  return { device: details ? `${name} (${details})` : name, isSoftware };
}

/** How long each turn of the event loop sleeps while pacedDawnWait waits. */
const PACE_MS = 0.25;
const sleeper = new Int32Array(new SharedArrayBuffer(4));
let pacedWaits = 0;
let pacing = false;

/**
 * `promise` (one that Dawn resolves: a buffer's mapAsync under tfjs's data()), with the event loop slowed to one
 * turn every PACE_MS while it is pending. dawn.node polls its device from a setImmediate callback while any of
 * its promises is pending, a new function each turn: waiting for a step's metrics spun the loop, and the garbage
 * (promoted in part) brought a full garbage collection about every 0.1 s even with nothing else running, and a
 * 47–53 ms compaction every 0.75 s in the trainer (this project's box, lavapipe, 2026-11-27). On the H200 one
 * step in about thirty took 130–290 ms instead of 31. Paced, the loop sleeps instead: 10 scavenges and 1
 * compaction in 8 s of waiting instead of 92 and 84, and a completion is seen at most PACE_MS late.
 */
export async function pacedDawnWait<T>(promise: Promise<T>): Promise<T> {
  pacedWaits++;
  if (!pacing) {
    pacing = true;
    setImmediate(pace);
  }
  try {
    return await promise;
  } finally {
    pacedWaits--;
  }
}

function pace(): void {
  if (pacedWaits === 0) {
    pacing = false;
    return;
  }
  Atomics.wait(sleeper, 0, 0, PACE_MS);
  setImmediate(pace);
}
