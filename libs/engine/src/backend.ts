import * as tf from '@tensorflow/tfjs';
import type { BackendName, ThreadCount } from '@facegan/spec';
import { registerCpuKernelFixes } from './cpu-kernels';

export interface BackendInfo {
  /** The tfjs backend name: 'tensorflow', 'webgpu', 'wasm', 'cpu'. */
  backend: string;
  /** What it runs on, for people: 'wasm simd, 1 thread', 'NVIDIA H200 (nvidia, hopper)'. */
  device: string;
  /** `auto` only: the faster backends it passed over, each with why ('webgpu: only a software adapter (llvmpipe …)'). */
  passedOver?: string[];
}

/** Warnings go to stderr by default; tests and callers can catch them. */
export interface InitBackendOptions {
  warn?: (message: string) => void;
  /**
   * wasm only: XNNPACK threads, or 'auto' (one per CPU idle now, sampled for 0.3 s; see autoWasmThreads). Default 1. The
   * threaded build is chosen once per process, when the wasm backend first starts.
   */
  threads?: ThreadCount;
}

const TENSORFLOW_GPU = { specifier: '@tensorflow/tfjs-node-gpu', label: 'tensorflow-gpu' } as const;
const TENSORFLOW_CPU = { specifier: '@tensorflow/tfjs-node', label: 'tensorflow-cpu' } as const;
type TensorflowPackage = typeof TENSORFLOW_GPU | typeof TENSORFLOW_CPU;

/**
 * Selects and initialises a tfjs backend for training. `auto` takes the first that works of
 * tensorflow-gpu (tfjs-node-gpu on a CUDA device) → webgpu on a real GPU (not a software adapter such
 * as lavapipe) → tensorflow-cpu → wasm → cpu, and says what it passed over in `passedOver`.
 */
export async function initBackend(name: BackendName, options: InitBackendOptions = {}): Promise<BackendInfo> {
  const warn = options.warn ?? ((message: string) => process.stderr.write(`warning: ${message}\n`));
  // the stock cpu kernels have a gradient bug that changes training (see cpu-kernels.ts); cheap, idempotent
  registerCpuKernelFixes();
  const threads = options.threads ?? 1;
  switch (name) {
    case 'auto':
      return initAuto(threads);
    case 'tensorflow': {
      const gpu = await loadTensorflow(TENSORFLOW_GPU);
      if (gpu.info) return gpu.info;
      const cpu = gpu.loadedWithoutGpu ? await selectTensorflow() : await loadTensorflow(TENSORFLOW_CPU);
      if (cpu.info) return cpu.info;
      const failures = [gpu.reason, cpu.reason].filter((reason) => !reason.endsWith('not installed'));
      throw new Error(
        "backend 'tensorflow' is not installed. `npm install @tensorflow/tfjs-node-gpu` (NVIDIA GPU: needs CUDA 11.2 " +
          'and cuDNN 8.1) or `npm install @tensorflow/tfjs-node` (CPU); both download libtensorflow (~hundreds of MB) ' +
          `when installed. Or pick backend 'wasm'.${failures.length ? ` (${failures.join('; ')})` : ''}`,
      );
    }
    case 'webgpu': {
      const info = await initWebGpuBackend();
      if (info.isSoftware) {
        warn(`WebGPU adapter ${info.device} is a CPU implementation: it trains, but no faster than 'wasm'`);
      }
      return { backend: info.backend, device: info.device };
    }
    case 'wasm':
      return initWasm(threads);
    case 'cpu':
      warn("backend 'cpu' is plain JavaScript, far too slow to train the DCGAN (use it for tests); prefer 'wasm' or 'tensorflow'");
      return initCpu();
  }
}

async function initAuto(threads: ThreadCount): Promise<BackendInfo> {
  const passedOver: string[] = [];
  const chosen = (info: BackendInfo): BackendInfo => ({ ...info, passedOver });

  const gpu = await loadTensorflow(TENSORFLOW_GPU);
  if (gpu.info) return chosen(gpu.info);
  passedOver.push(`${TENSORFLOW_GPU.label}: ${gpu.reason}`);

  const { probeWebGpu } = await import('./webgpu/index');
  const probe = await probeWebGpu();
  if (!probe.ok) {
    passedOver.push(`webgpu: ${probe.reason ?? 'no adapter'}`);
  } else if (probe.isSoftware) {
    passedOver.push(`webgpu: only a software adapter (${probe.device ?? 'unknown'}), no faster than the CPU backends`);
  } else {
    try {
      const info = await initWebGpuBackend();
      return chosen({ backend: info.backend, device: info.device });
    } catch (error) {
      passedOver.push(`webgpu: ${errorText(error)}`);
    }
  }

  // tfjs-node-gpu without a CUDA device is libtensorflow on the CPU: as good as tfjs-node
  const cpu = gpu.loadedWithoutGpu ? await selectTensorflow() : await loadTensorflow(TENSORFLOW_CPU);
  if (cpu.info) return chosen(cpu.info);
  passedOver.push(`${TENSORFLOW_CPU.label}: ${cpu.reason}`);

  try {
    return chosen(await initWasm(threads));
  } catch (error) {
    passedOver.push(`wasm: ${errorText(error)}`);
  }
  return chosen(await initCpu());
}

async function selectBackend(name: string): Promise<void> {
  if (!(await tf.setBackend(name))) throw new Error(`tfjs could not initialise backend '${name}'`);
  await tf.ready();
}

async function initCpu(): Promise<BackendInfo> {
  await selectBackend('cpu');
  return { backend: 'cpu', device: 'cpu (plain JavaScript)' };
}

async function initWasm(threads: ThreadCount): Promise<BackendInfo> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  const { registerWasmTrainingKernels } = await import('./kernels/wasm/index');
  const { autoWasmThreads, wasmBackendStarted, withWasmThreads } = await import('./kernels/wasm/threads');
  // before setBackend: kernels with a setup function are set up when the backend starts
  registerWasmTrainingKernels();
  // a started backend keeps the build it started with (threads are chosen once per process)
  if (wasmBackendStarted()) await selectBackend('wasm');
  else await withWasmThreads(threads === 'auto' ? await autoWasmThreads() : threads, () => selectBackend('wasm'));
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  const running = wasm.getThreadsCount();
  return { backend: 'wasm', device: `wasm ${simd ? 'simd' : 'without simd'}, ${running} thread${running === 1 ? '' : 's'}` };
}

/** WebGPU through Dawn (libs/engine/src/webgpu): the backend, the project's kernels and gradient overrides. */
async function initWebGpuBackend() {
  const { initWebGpu } = await import('./webgpu/index');
  return initWebGpu();
}

interface TensorflowLoad {
  info?: BackendInfo;
  /** Why it was not taken: 'not installed', 'failed to load: …', 'no CUDA device'. */
  reason: string;
  /** tfjs-node-gpu loaded but found no CUDA device: it still runs libtensorflow on the CPU. */
  loadedWithoutGpu?: boolean;
}

/** What tfjs-node's backend says about itself. */
interface NodeBackendLike {
  isGPUPackage?: boolean;
  isUsingGpuDevice?: boolean;
}

/**
 * tfjs-node(-gpu) are optional dependencies: present only where libtensorflow could be downloaded.
 * Importing one registers the 'tensorflow' backend.
 */
async function loadTensorflow(candidate: TensorflowPackage): Promise<TensorflowLoad> {
  try {
    // a variable specifier: TypeScript and bundlers must not require the optional package
    await import(/* @vite-ignore */ candidate.specifier);
  } catch (error) {
    return { reason: isModuleNotFound(error) ? `${candidate.specifier} not installed` : `${candidate.specifier} failed to load: ${errorText(error)}` };
  }
  if (candidate === TENSORFLOW_GPU) {
    await selectBackend('tensorflow');
    const backend = tf.backend() as unknown as NodeBackendLike;
    if (backend.isUsingGpuDevice === false) {
      return { reason: `${candidate.specifier} found no CUDA device (CUDA 11.2 and cuDNN 8.1 needed)`, loadedWithoutGpu: true };
    }
  }
  return selectTensorflow();
}

/** Switches to the 'tensorflow' backend a tfjs-node package registered. */
async function selectTensorflow(): Promise<TensorflowLoad> {
  await selectBackend('tensorflow');
  const backend = tf.backend() as unknown as NodeBackendLike;
  const onGpu = backend.isGPUPackage === true && backend.isUsingGpuDevice === true;
  return { info: { backend: 'tensorflow', device: `tensorflow (libtensorflow, ${onGpu ? 'CUDA GPU' : 'CPU'})` }, reason: '' };
}

function isModuleNotFound(error: unknown): boolean {
  const code = (error as { code?: string } | null)?.code;
  const message = error instanceof Error ? error.message : '';
  return (
    code === 'ERR_MODULE_NOT_FOUND' ||
    code === 'MODULE_NOT_FOUND' ||
    /Cannot find (module|package)|Failed to (resolve|load url)/i.test(message)
  );
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
