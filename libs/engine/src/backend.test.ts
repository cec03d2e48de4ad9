import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { initBackend } from './backend';
import { randomDataset, tinySettings } from './test-fixtures';
import { createTrainer } from './trainer';
import { NO_ADAPTER_MESSAGE, probeWebGpu } from './webgpu/index';

/** tfjs-node(-gpu) are optional dependencies: where one installed, 'tensorflow' works and 'auto' picks it. */
const tensorflowInstalled = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'].some((name) => {
  try {
    createRequire(import.meta.url).resolve(name);
    return true;
  } catch {
    return false;
  }
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe('initBackend', () => {
  it.skipIf(tensorflowInstalled)("'tensorflow' without tfjs-node installed explains how to get it", async () => {
    const error = initBackend('tensorflow');
    await expect(error).rejects.toThrow(/npm install @tensorflow\/tfjs-node-gpu/);
    await expect(error).rejects.toThrow(/CUDA 11\.2 and cuDNN 8\.1/);
    await expect(error).rejects.toThrow(/libtensorflow/);
  });

  it("'webgpu' starts WebGPU through Dawn and says when the adapter is a CPU one; without an adapter it says what to install", async () => {
    const probe = await probeWebGpu();
    if (!probe.ok) {
      await expect(initBackend('webgpu')).rejects.toThrow(NO_ADAPTER_MESSAGE);
      return;
    }
    const warnings: string[] = [];
    const info = await initBackend('webgpu', { warn: (message) => warnings.push(message) });
    expect(info).toEqual({ backend: 'webgpu', device: probe.device });
    expect(tf.getBackend()).toBe('webgpu');
    const sum = tf.add(tf.tensor([1, 2]), 1);
    expect(Array.from(await sum.data())).toEqual([2, 3]);
    sum.dispose();
    expect(warnings).toEqual(probe.isSoftware ? [expect.stringMatching(/CPU implementation.*no faster than 'wasm'/)] : []);
    await tf.setBackend('cpu');
  });

  it("'cpu' works and warns that it is too slow", async () => {
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    expect(await initBackend('cpu')).toEqual({ backend: 'cpu', device: 'cpu (plain JavaScript)' });
    expect(await initBackend('cpu', { warn: () => {} })).toEqual({ backend: 'cpu', device: 'cpu (plain JavaScript)' });
    expect(tf.getBackend()).toBe('cpu');
    expect(String(stderr.mock.calls[0][0])).toMatch(/too slow/);
  });

  it.skipIf(tensorflowInstalled)("'wasm' starts the wasm backend; 'auto' falls back to it without tfjs-node", async () => {
    const wasm = await initBackend('wasm');
    expect(wasm).toEqual({ backend: 'wasm', device: expect.stringMatching(/^wasm (simd|without simd), \d+ threads?$/) });
    expect(tf.getBackend()).toBe('wasm');
    const sum = tf.add(tf.tensor([1, 2]), 1);
    expect(Array.from(await sum.data())).toEqual([2, 3]);
    sum.dispose();

    await tf.setBackend('cpu');
    const auto = await initBackend('auto');
    expect(auto).toEqual({ ...wasm, passedOver: expect.any(Array) });
    expect(tf.getBackend()).toBe('wasm');
    // it says why it passed over each faster backend
    const [tensorflowGpu, webgpu, tensorflowCpu] = auto.passedOver ?? [];
    expect(tensorflowGpu).toBe('tensorflow-gpu: @tensorflow/tfjs-node-gpu not installed');
    const probe = await probeWebGpu();
    expect(webgpu).toBe(
      probe.ok ? `webgpu: only a software adapter (${probe.device}), no faster than the CPU backends` : `webgpu: ${probe.reason}`,
    );
    expect(tensorflowCpu).toBe('tensorflow-cpu: @tensorflow/tfjs-node not installed');
    expect(auto.passedOver).toHaveLength(3);
  });

  it('wasm trains: its gradient kernels are registered', async () => {
    await initBackend('wasm');
    const trainer = createTrainer(tinySettings());
    const images = tf.tensor4d(randomDataset(4).images, [4, 32, 32, 3]);
    const metrics = [trainer.step(images), trainer.step(images)];
    for (const m of metrics) expect(Number.isFinite(m.d_loss_real + m.d_loss_fake + m.g_loss)).toBe(true);
    images.dispose();
    trainer.dispose();
  });
});
