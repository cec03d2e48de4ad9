/**
 * Threads for the tfjs 'wasm' backend in Node.
 *
 * tfjs-backend-wasm 4.22 ships a threaded SIMD build (XNNPACK on a pthreadpool of emscripten workers) but
 * never loads it in Node: its WASM_HAS_MULTITHREAD_SUPPORT flag answers false there (tfjs issue 3830).
 * The emscripten glue itself supports Node's worker_threads; three things stand in the way, and
 * {@link withWasmThreads} works around each while the backend initialises:
 *
 * 1. the flag: set to true, so init() picks tfjs-backend-wasm-threaded-simd.wasm;
 * 2. the worker script: tfjs passes it to `new Worker()` as a Blob URL, which Node cannot start; our
 *    URL.createObjectURL answers with pthread-worker.cjs instead (it runs tfjs's worker script);
 * 3. the thread count: the C++ side caps it at emscripten_num_logical_cores() / 2 (it assumes 2
 *    hyper-threads per core), read from os.cpus().length when the module starts; on a 2-CPU machine that
 *    is 1. os.cpus() reports 2 × the wanted count for that moment.
 *
 * Only XNNPACK's kernels (convolutions, matmul, element-wise ops it implements) use the threads; the
 * JavaScript kernels of this folder stay on the main thread.
 */
import { availableParallelism, default as os } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount, setThreadsCount } from '@tensorflow/tfjs-backend-wasm';

/** emscripten pre-creates this many workers (PTHREAD_POOL_SIZE); more would need the Blob URL again. */
const PREBUILT_WORKERS = 8;

const WORKER_SCRIPT = fileURLToPath(new URL('./pthread-worker.cjs', import.meta.url));

/** The threads worth asking for here: the CPUs this process may use, at most the prebuilt workers. */
export function availableWasmThreads(): number {
  return Math.max(1, Math.min(PREBUILT_WORKERS, availableParallelism()));
}

/**
 * One thread per CPU that is idle now, at least 1, at most availableWasmThreads(). XNNPACK's threads
 * meet at a barrier after every kernel: one that waits for a busy CPU stalls the others (on this
 * project's 2-core box a step took 1.5× longer on 2 threads than on 1 beside one busy process), so a
 * loaded machine trains faster on fewer.
 */
export function threadsForIdleCpus(idleCpus: number): number {
  return Math.max(1, Math.min(availableWasmThreads(), Math.round(idleCpus)));
}

/** How many CPUs were idle, on average, over the next `ms` milliseconds (from the kernel's CPU times). */
export async function idleCpus(ms = 300): Promise<number> {
  const idle = () => os.cpus().map((cpu) => ({ idle: cpu.times.idle, total: Object.values(cpu.times).reduce((a, b) => a + b, 0) }));
  const before = idle();
  await sleep(ms);
  const after = idle();
  return after.reduce((sum, cpu, i) => {
    const total = cpu.total - (before[i]?.total ?? 0);
    return sum + (total > 0 ? (cpu.idle - (before[i]?.idle ?? 0)) / total : 1);
  }, 0);
}

/** The 'auto' thread count: threadsForIdleCpus of a short sample of the CPUs' idle time. */
export async function autoWasmThreads(): Promise<number> {
  return threadsForIdleCpus(await idleCpus());
}

/**
 * Runs `init` (which must initialise the 'wasm' backend: tf.setBackend('wasm'), initBackend('wasm')) so
 * that the backend loads the threaded build with `threads` XNNPACK threads, and resolves to what `init`
 * resolves to. `threads` <= 1 leaves everything as it is (the single-threaded SIMD build). Throws when the
 * wasm backend is already initialised: the build is chosen once per process.
 */
export async function withWasmThreads<T>(threads: number, init: () => Promise<T>): Promise<T> {
  if (threads <= 1) return init();
  if (threads > PREBUILT_WORKERS) {
    throw new Error(`wasm threads: at most ${PREBUILT_WORKERS} (the workers emscripten pre-creates), got ${threads}`);
  }
  if (typeof SharedArrayBuffer === 'undefined') throw new Error('wasm threads: this runtime has no SharedArrayBuffer');
  if (wasmBackendStarted()) {
    throw new Error('wasm threads: the wasm backend is already initialised; ask for threads before it starts');
  }

  const { createObjectURL } = URL;
  const { cpus } = os;
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  setThreadsCount(threads);
  URL.createObjectURL = (object: Blob | MediaSource) =>
    object instanceof Blob && object.type === 'application/javascript' ? WORKER_SCRIPT : createObjectURL(object);
  os.cpus = () => {
    const real = cpus();
    return Array.from({ length: 2 * threads }, (_, i) => real[i % real.length]);
  };
  try {
    const result = await init();
    // The pool's threads run for the life of the process, and emscripten ref()s a worker while it runs
    // a thread: they would keep Node from exiting when the program is done.
    for (const worker of runningWorkers()) worker.unref();
    return result;
  } catch (error) {
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    throw error;
  } finally {
    URL.createObjectURL = createObjectURL;
    os.cpus = cpus;
  }
}

/** True once the wasm backend has been initialised in this process (its build and threads are then fixed). */
export function wasmBackendStarted(): boolean {
  // (not tf.findBackend: it would start the backend)
  return (tf.engine() as unknown as { registry: Record<string, unknown> }).registry.wasm !== undefined;
}

/** The emscripten workers that run the wasm backend's pthreads (none for the single-threaded build). */
function runningWorkers(): Array<{ unref(): void }> {
  const backend = tf.findBackend('wasm') as unknown as { wasm?: { PThread?: { runningWorkers: Array<{ unref(): void }> } } } | null;
  return backend?.wasm?.PThread?.runningWorkers ?? [];
}

/** XNNPACK threads of the initialised wasm backend (1 for the single-threaded build). */
export function wasmThreadsCount(): number {
  return getThreadsCount();
}
