import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { describe, expect, it } from 'vitest';
import { tinySettings, trainSeededSteps } from '../../test-fixtures';
import { registerWasmTrainingKernels } from './index';
import { availableWasmThreads, idleCpus, threadsForIdleCpus, wasmThreadsCount, withWasmThreads } from './threads';

// vitest runs each test file in its own process: here the wasm backend starts threaded.
describe('wasm threads in Node (threaded SIMD build on worker_threads)', () => {
  it('starts 2 XNNPACK threads, and a conv training step on them matches cpu', async () => {
    registerWasmTrainingKernels();
    await withWasmThreads(2, () => tf.setBackend('wasm'));
    expect(tf.getBackend()).toBe('wasm');
    expect(wasmThreadsCount()).toBe(2);

    const x = tf.randomUniform([4, 12, 12, 8], -1, 1, 'float32', 1);
    const w = tf.randomUniform([3, 3, 8, 16], -0.3, 0.3, 'float32', 2);
    const step = () =>
      tf.tidy(() => {
        const loss = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same')));
        return tf.grads(loss)([x, w]).map((g) => g.dataSync() as Float32Array);
      });
    const [dx, dw] = step();
    await tf.setBackend('cpu');
    const [dxRef, dwRef] = step();
    for (const [candidate, reference] of [
      [dx, dxRef],
      [dw, dwRef],
    ]) {
      const scale = Math.max(1, ...Array.from(reference, Math.abs));
      const maxDiff = Math.max(...Array.from(reference, (v, i) => Math.abs(v - candidate[i])));
      expect(maxDiff / scale).toBeLessThanOrEqual(1e-4);
    }
    tf.dispose([x, w]);
  });

  it('trains on 2 threads: 3 seeded steps give the losses of the cpu backend (within 1e-4, as backends-agree)', async () => {
    const settings = tinySettings({ learningRate: 2e-4 });
    await tf.setBackend('wasm');
    const threaded = await trainSeededSteps(settings, 3);
    await tf.setBackend('cpu');
    const reference = await trainSeededSteps(settings, 3);
    threaded.metrics.forEach((metrics, step) => {
      for (const name of ['d_loss_real', 'd_loss_fake', 'g_loss'] as const) {
        expect(Math.abs(metrics[name] - reference.metrics[step][name])).toBeLessThanOrEqual(1e-4);
      }
    });
  });

  it("'auto' takes one thread per idle CPU, at least 1", async () => {
    const most = availableWasmThreads();
    expect(threadsForIdleCpus(1.9)).toBe(Math.min(most, 2));
    expect(threadsForIdleCpus(1.2)).toBe(1);
    expect(threadsForIdleCpus(0)).toBe(1);
    expect(threadsForIdleCpus(12.6)).toBe(Math.min(most, 13));
    const idle = await idleCpus(100);
    expect(idle).toBeGreaterThanOrEqual(0);
    expect(idle).toBeLessThanOrEqual(availableParallelism() + 1e-9);
  });

  it('refuses once the wasm backend has started, and lets the process exit when done', async () => {
    await expect(withWasmThreads(2, () => tf.setBackend('wasm'))).rejects.toThrow(/already initialised/);
    // The pool's workers would keep Node alive if they stayed referenced: a child process that starts
    // the threaded backend and runs a kernel must exit on its own.
    const script = fileURLToPath(new URL('./threads-exit.fixture.ts', import.meta.url));
    const child = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', timeout: 60_000 });
    expect(child.error, child.stderr).toBeUndefined();
    expect(child.status, child.stderr).toBe(0);
    expect(child.stdout.trim()).toBe('threads 2');
  });
});
