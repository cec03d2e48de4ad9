import { createRequire } from 'node:module';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { initBackend } from './backend';
import * as webgpu from './webgpu/index';

/** 'auto' against WebGPU adapters this machine does not have: the probe and the start are stand-ins. */
vi.mock('./webgpu/index', async (importOriginal) => {
  const actual = await importOriginal<typeof import('./webgpu/index')>();
  return { ...actual, probeWebGpu: vi.fn(), initWebGpu: vi.fn() };
});

const tensorflowInstalled = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'].some((name) => {
  try {
    createRequire(import.meta.url).resolve(name);
    return true;
  } catch {
    return false;
  }
});

const H200 = { device: 'NVIDIA H200 (nvidia, hopper)', isSoftware: false };

beforeEach(() => {
  vi.mocked(webgpu.probeWebGpu).mockReset();
  vi.mocked(webgpu.initWebGpu).mockReset();
});

describe.skipIf(tensorflowInstalled)("'auto' without tfjs-node", () => {
  it('takes webgpu on a real GPU, and says it passed over tensorflow-gpu', async () => {
    vi.mocked(webgpu.probeWebGpu).mockResolvedValue({ ok: true, ...H200 });
    vi.mocked(webgpu.initWebGpu).mockResolvedValue({ backend: 'webgpu', ...H200 });
    expect(await initBackend('auto')).toEqual({
      backend: 'webgpu',
      device: H200.device,
      passedOver: ['tensorflow-gpu: @tensorflow/tfjs-node-gpu not installed'],
    });
    expect(webgpu.initWebGpu).toHaveBeenCalledOnce();
  });

  it('passes over a software adapter without starting it, and a GPU whose start fails, for wasm', async () => {
    vi.mocked(webgpu.probeWebGpu).mockResolvedValue({ ok: true, device: 'llvmpipe (mesa, software)', isSoftware: true });
    const software = await initBackend('auto');
    expect(software.backend).toBe('wasm');
    expect(software.passedOver?.[1]).toBe('webgpu: only a software adapter (llvmpipe (mesa, software)), no faster than the CPU backends');
    expect(webgpu.initWebGpu).not.toHaveBeenCalled();

    vi.mocked(webgpu.probeWebGpu).mockResolvedValue({ ok: true, ...H200 });
    vi.mocked(webgpu.initWebGpu).mockRejectedValue(new Error('device lost'));
    const failed = await initBackend('auto');
    expect(failed.backend).toBe('wasm');
    expect(failed.passedOver).toEqual([
      'tensorflow-gpu: @tensorflow/tfjs-node-gpu not installed',
      'webgpu: device lost',
      'tensorflow-cpu: @tensorflow/tfjs-node not installed',
    ]);
  });

  it('passes over a machine without an adapter with the probe’s reason', async () => {
    vi.mocked(webgpu.probeWebGpu).mockResolvedValue({ ok: false, reason: 'no WebGPU adapter: install a Vulkan driver' });
    const info = await initBackend('auto');
    expect(info.backend).toBe('wasm');
    expect(info.passedOver?.[1]).toBe('webgpu: no WebGPU adapter: install a Vulkan driver');
  });
});
