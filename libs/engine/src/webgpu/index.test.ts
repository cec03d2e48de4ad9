import * as tf from '@tensorflow/tfjs';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DEFAULT_DAWN_FLAGS, dawnFlags } from './dawn';
import { describeAdapterInfo, initWebGpu, NO_ADAPTER_MESSAGE, probeWebGpu, removeWebGpuOverrides, installWebGpuOverrides } from './index';
import { webGpuForTests } from './test-support';

const webGpu = await webGpuForTests();

describe('describeAdapterInfo', () => {
  it('calls lavapipe software', () => {
    expect(
      describeAdapterInfo({
        vendor: 'mesa',
        architecture: 'software',
        device: 'llvmpipe-llvm-15-0-6-256-bits-',
        description: 'llvmpipe: Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6) 0.0.1',
        isFallbackAdapter: true,
      }),
    ).toEqual({ device: 'llvmpipe: Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6) 0.0.1 (mesa, software)', isSoftware: true });
  });

  it('calls an NVIDIA card hardware', () => {
    expect(describeAdapterInfo({ vendor: 'nvidia', architecture: 'hopper', device: '', description: 'NVIDIA H200' })).toEqual({
      device: 'NVIDIA H200 (nvidia, hopper)',
      isSoftware: false,
    });
  });

  it("calls a 'cpu' adapter type or SwiftShader software", () => {
    expect(describeAdapterInfo({ vendor: 'google', adapterType: 'cpu' }).isSoftware).toBe(true);
    expect(describeAdapterInfo({ vendor: 'google', description: 'SwiftShader Device' }).isSoftware).toBe(true);
  });
});

describe('dawnFlags', () => {
  it("splits FACEGAN_DAWN_FLAGS into create()'s options; the project's defaults when unset, Dawn's when blank", () => {
    expect(dawnFlags({ FACEGAN_DAWN_FLAGS: ' enable-dawn-features=disable_robustness,skip_validation  adapter=x ' })).toEqual([
      'enable-dawn-features=disable_robustness,skip_validation',
      'adapter=x',
    ]);
    expect(dawnFlags({})).toEqual(DEFAULT_DAWN_FLAGS);
    expect(DEFAULT_DAWN_FLAGS.join(' ')).toContain('disable_robustness');
    expect(dawnFlags({ FACEGAN_DAWN_FLAGS: '  ' })).toEqual([]);
    expect(dawnFlags({ FACEGAN_DAWN_FLAGS: '' })).toEqual([]);
  });
});

describe('without a Vulkan driver', () => {
  it('initWebGpu throws the install hint and probeWebGpu says why', () => {
    // A child process that sees no Vulkan ICD: Dawn finds no adapter.
    const script = `
      import { initWebGpu, probeWebGpu } from ${JSON.stringify(fileURLToPath(new URL('./index.ts', import.meta.url)))};
      const probe = await probeWebGpu();
      let message = '';
      try { await initWebGpu(); } catch (error) { message = error.message; }
      console.log(JSON.stringify({ probe, message }));
    `;
    // (tsx needs the workspace's path aliases: nx runs tests from the repository root, which has no tsconfig.json)
    const tsconfig = fileURLToPath(new URL('../../../../tsconfig.base.json', import.meta.url));
    const output = execFileSync('npx', ['tsx', '--input-type=module', '-e', script], {
      env: { ...process.env, TSX_TSCONFIG_PATH: tsconfig, VK_ICD_FILENAMES: '/nonexistent/icd.json', VK_DRIVER_FILES: '/nonexistent/icd.json' },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const result = JSON.parse(output.trim().split('\n').pop() ?? '{}');
    expect(result.probe.ok).toBe(false);
    expect(result.probe.reason).toContain(NO_ADAPTER_MESSAGE);
    expect(result.message).toContain(NO_ADAPTER_MESSAGE);
  }, 60_000);
});

describe.skipIf(!webGpu.available)(`initWebGpu ${webGpu.skipReason}`, () => {
  it('probes without switching backends', async () => {
    const before = tf.getBackend();
    const probe = await probeWebGpu();
    expect(probe.ok).toBe(true);
    expect(probe.device).toBeTruthy();
    expect(tf.getBackend()).toBe(before);
  });

  it('switches tfjs to webgpu, names the adapter and installs the project kernels', async () => {
    const info = await initWebGpu();
    expect(info.backend).toBe('webgpu');
    expect(tf.getBackend()).toBe('webgpu');
    expect(info.device.length).toBeGreaterThan(3);
    // On this machine the only adapter is lavapipe; a GPU machine reports false.
    if (/llvmpipe|lavapipe/.test(info.device)) expect(info.isSoftware).toBe(true);
    const ours = tf.getKernel(tf.Conv2DBackpropFilter, 'webgpu');
    removeWebGpuOverrides();
    const stock = tf.getKernel(tf.Conv2DBackpropFilter, 'webgpu');
    expect(stock?.kernelFunc).not.toBe(ours?.kernelFunc);
    installWebGpuOverrides();
    expect(tf.getKernel(tf.Conv2DBackpropFilter, 'webgpu')?.kernelFunc).not.toBe(stock?.kernelFunc);
    expect(tf.getKernel('FaceganGpuDropout', 'webgpu')).toBeDefined();
  });

  it('computes on the device', async () => {
    await initWebGpu();
    const product = tf.matMul(tf.tensor2d([[1, 2], [3, 4]]), tf.tensor2d([[5], [6]]));
    expect(Array.from(await product.data())).toEqual([17, 39]);
  });
});
