import * as tf from '@tensorflow/tfjs';
import type { BackendName } from '@facegan/spec';

export interface BackendInfo {
  /** The tfjs backend name: 'tensorflow', 'wasm', 'cpu'. */
  backend: string;
  /** What it runs on, for people: 'wasm simd, 1 thread'. */
  device: string;
}

/** Selects and initialises a tfjs backend for training. */
export async function initBackend(name: BackendName): Promise<BackendInfo> {
  switch (name) {
    case 'auto': {
      const { info, failures } = await loadTensorflow();
      for (const failure of failures) process.stderr.write(`warning: ${failure}; falling back\n`);
      return info ?? (await initWasm());
    }
    case 'tensorflow': {
      const { info, failures } = await loadTensorflow();
      if (info) return info;
      throw new Error(
        "backend 'tensorflow' is not installed. `npm install @tensorflow/tfjs-node-gpu` (NVIDIA GPU: needs CUDA 11.2 " +
          'and cuDNN 8.1) or `npm install @tensorflow/tfjs-node` (CPU); both download libtensorflow (~hundreds of MB) ' +
          `when installed. Or pick backend 'wasm'.${failures.length ? ` (${failures.join('; ')})` : ''}`,
      );
    }
    case 'webgpu':
      return initWebgpu();
    case 'wasm':
      return initWasm();
    case 'cpu':
      process.stderr.write(
        "warning: backend 'cpu' is plain JavaScript, far too slow to train the DCGAN (use it for tests); prefer 'wasm' or 'tensorflow'\n",
      );
      await selectBackend('cpu');
      return { backend: 'cpu', device: 'cpu (plain JavaScript)' };
  }
}

async function selectBackend(name: string): Promise<void> {
  if (!(await tf.setBackend(name))) throw new Error(`tfjs could not initialise backend '${name}'`);
  await tf.ready();
}

async function initWasm(): Promise<BackendInfo> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  const { registerWasmTrainingKernels } = await import('./kernels/wasm/index');
  // before setBackend: kernels with a setup function are set up when the backend starts
  registerWasmTrainingKernels();
  await selectBackend('wasm');
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  const threads = wasm.getThreadsCount();
  return { backend: 'wasm', device: `wasm ${simd ? 'simd' : 'without simd'}, ${threads} thread${threads === 1 ? '' : 's'}` };
}

/** Seam for libs/engine/src/webgpu (in progress): it will register the backend and its training kernels. */
async function initWebgpu(): Promise<BackendInfo> {
  throw new Error("backend 'webgpu' is not available yet; use 'wasm' or 'tensorflow'");
}

/**
 * tfjs-node(-gpu) are optional dependencies: present only where libtensorflow could be downloaded.
 * Importing one registers the 'tensorflow' backend.
 */
async function loadTensorflow(): Promise<{ info?: BackendInfo; failures: string[] }> {
  const failures: string[] = [];
  const candidates = [
    { specifier: '@tensorflow/tfjs-node-gpu', device: 'tensorflow (libtensorflow, CUDA GPU)' },
    { specifier: '@tensorflow/tfjs-node', device: 'tensorflow (libtensorflow, CPU)' },
  ];
  for (const { specifier, device } of candidates) {
    try {
      // a variable specifier: TypeScript and bundlers must not require the optional package
      await import(/* @vite-ignore */ specifier);
    } catch (error) {
      if (!isModuleNotFound(error)) failures.push(`${specifier} failed to load: ${(error as Error).message}`);
      continue;
    }
    await selectBackend('tensorflow');
    return { info: { backend: 'tensorflow', device }, failures };
  }
  return { failures };
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
