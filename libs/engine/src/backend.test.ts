import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { initBackend } from './backend';
import { randomDataset, tinySettings } from './test-fixtures';
import { createTrainer } from './trainer';

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

  it("'webgpu' is not available yet", async () => {
    await expect(initBackend('webgpu')).rejects.toThrow(/not available yet/);
  });

  it("'cpu' works and warns that it is too slow", async () => {
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    expect(await initBackend('cpu')).toEqual({ backend: 'cpu', device: 'cpu (plain JavaScript)' });
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
    expect(await initBackend('auto')).toEqual(wasm);
    expect(tf.getBackend()).toBe('wasm');
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
