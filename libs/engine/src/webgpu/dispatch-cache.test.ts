import * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { buildDiscriminator } from '@facegan/model';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTrainer } from '../trainer';
import { benchSettings } from '../bench/train-step-bench';
import { dispatchCacheStats, dispatchCachesInstalled, installDispatchCaches, markGpuStep, removeDispatchCaches, sameUniforms, uniformBytes, uniformHash } from './dispatch-cache';
import { initWebGpu } from './index';
import { webGpuForTests } from './test-support';

const webGpu = await webGpuForTests();

/**
 * A stand-in for tfjs-backend-webgpu's backend, as far as the caches touch it: a pool that pops the last free
 * buffer of a size and usage (as tfjs's BufferManager), and a recordAndSubmit that makes uniforms and a bind group.
 */
function fakeBackend() {
  let made = 0;
  const destroyed: object[] = [];
  const buffer = (size: number, usage: number) => ({ size, usage, name: `buffer${made++}`, destroy: () => destroyed.push(buffer) }) as unknown as GPUBuffer;
  const bindGroupsMade: GPUBindGroupDescriptor[] = [];
  const pipeline = { getBindGroupLayout: () => ({}) };
  class Manager {
    freeBuffers = new Map<string, GPUBuffer[]>();
    acquireBuffer(size: number, usage: number): GPUBuffer {
      const free = this.freeBuffers.get(`${size}_${usage}`);
      return free && free.length > 0 ? (free.pop() as GPUBuffer) : buffer(size, usage);
    }
    releaseBuffer(released: GPUBuffer, reuse = true): void {
      if (!reuse) return;
      const key = `${released.size}_${released.usage}`;
      this.freeBuffers.set(key, [...(this.freeBuffers.get(key) ?? []), released]);
    }
    dispose(): void {
      this.freeBuffers.clear();
    }
  }
  class Backend {
    bufferManager = new Manager();
    commandEncoder = null;
    submits = 0;
    uniformWrites = 0;
    device = {
      createBindGroup: (descriptor: GPUBindGroupDescriptor) => {
        bindGroupsMade.push(descriptor);
        return { descriptor } as unknown as GPUBindGroup;
      },
      createBuffer: ({ size, usage }: { size: number; usage: number }) => ({
        ...buffer(size, usage),
        getMappedRange: () => new ArrayBuffer(size),
        unmap: () => undefined,
      }),
    };
    queue = { writeBuffer: (..._args: unknown[]) => this.uniformWrites++ };
    uniformPendingDisposal: GPUBuffer[] = [];
    endComputePassEncoder(): void {}
    submitQueue(): void {
      this.submits++;
    }
    makeUniforms(programUniform: Array<{ type: string; data: number[] }>) {
      const size = 4 * programUniform.reduce((n, d) => n + d.data.length, 0);
      const uniformBuffer = this.bufferManager.acquireBuffer(size, 64);
      const bytes = new Float32Array(programUniform.flatMap((d) => d.data));
      this.queue.writeBuffer(uniformBuffer, 0, bytes.buffer, 0, size);
      this.uniformPendingDisposal.push(uniformBuffer);
      return { offset: 0, size, buffer: uniformBuffer };
    }
    recordAndSubmit(program: { pipeline: unknown }, output: GPUBuffer, inputs: GPUBuffer[], uniforms: number[]) {
      const group = this.device.createBindGroup({
        layout: (program.pipeline as typeof pipeline).getBindGroupLayout() as GPUBindGroupLayout,
        entries: [output, ...inputs].map((b, i) => ({ binding: i, resource: { buffer: b } })).concat([{ binding: inputs.length + 1, resource: this.makeUniforms([{ type: 'float32', data: uniforms }]) as never }]),
      });
      return group;
    }
  }
  const backend = new Backend();
  return { backend, asWebGpu: backend as unknown as WebGPUBackend, bindGroupsMade, destroyed, program: { pipeline }, buffersMade: () => made };
}

describe('dispatch caches (on a stand-in for the backend)', () => {
  it('after markGpuStep, the n-th request of a size gets the buffer it had in the last step, where LIFO would not', () => {
    const { backend, asWebGpu } = fakeBackend();
    installDispatchCaches(asWebGpu);
    const manager = backend.bufferManager;
    const step = () => {
      markGpuStep();
      const got = [manager.acquireBuffer(16, 128), manager.acquireBuffer(16, 128), manager.acquireBuffer(16, 128)];
      for (const b of got) manager.releaseBuffer(b); // freed in request order: LIFO alone would hand them out reversed
      return got.map((b) => (b as unknown as { name: string }).name);
    };
    const first = step();
    expect(step()).toEqual(first);
    expect(step()).toEqual(first);
    removeDispatchCaches(asWebGpu);
    markGpuStep(); // no caches any more: tfjs's order
    const lifo = [manager.acquireBuffer(16, 128), manager.acquireBuffer(16, 128), manager.acquireBuffer(16, 128)].map((b) => (b as unknown as { name: string }).name);
    expect(lifo).toEqual([...first].reverse());
  });

  it('a weight and its update alternate between two buffers, and the same bind groups serve every step', () => {
    const { backend, asWebGpu, bindGroupsMade, program } = fakeBackend();
    installDispatchCaches(asWebGpu);
    const manager = backend.bufferManager;
    let weight = manager.acquireBuffer(64, 128);
    const groups: GPUBindGroup[] = [];
    for (let step = 0; step < 6; step++) {
      markGpuStep();
      const scratch = manager.acquireBuffer(64, 128); // taken and freed inside the step
      const updated = manager.acquireBuffer(64, 128);
      groups.push(backend.recordAndSubmit(program, updated, [weight, scratch], [0.5, step % 2 === 0 ? -0 : 0]));
      manager.releaseBuffer(scratch);
      manager.releaseBuffer(weight);
      weight = updated;
    }
    // steps 0-2 make bind groups: the first weight was made before any step, and step 1's update gets a buffer of
    // its own rather than the one it held (another site could want that back); from then on A and B alternate.
    // The uniforms -0 and 0 are two entries.
    expect(bindGroupsMade.length).toBe(3);
    expect(groups[4]).toBe(groups[2]);
    expect(groups[5]).toBe(groups[3]);
    expect(dispatchCacheStats(asWebGpu)).toMatchObject({ bindGroupHits: 3, bindGroupMisses: 3, uniformHits: 4, uniformMisses: 2 });
    expect(backend.uniformWrites).toBe(0);
    removeDispatchCaches(asWebGpu);
  });

  it('a site whose buffers are all in use makes one of its own only while small (per-channel vectors, not activations), and few', () => {
    const { backend, asWebGpu, buffersMade } = fakeBackend();
    installDispatchCaches(asWebGpu);
    const manager = backend.bufferManager;
    const name = (b: GPUBuffer) => (b as unknown as { name: string }).name;
    for (const size of [64, 1 << 20]) {
      markGpuStep();
      const held = manager.acquireBuffer(size, 128); // the site's buffer, still in use next step
      const spare = manager.acquireBuffer(size, 128);
      manager.releaseBuffer(spare);
      markGpuStep();
      const next = manager.acquireBuffer(size, 128);
      if (size === 64) expect([name(held), name(spare)]).not.toContain(name(next));
      else expect(name(next)).toBe(name(spare)); // large: the free one, as tfjs would
    }
    // at most 4 of its own: then a free one again
    const foreign = Array.from({ length: 10 }, () => manager.acquireBuffer(32, 128));
    for (const b of foreign) manager.releaseBuffer(b);
    const before = buffersMade();
    for (let step = 0; step < 8; step++) {
      markGpuStep();
      manager.acquireBuffer(32, 128); // held on: the site's own buffers are never free
    }
    expect(buffersMade() - before).toBe(4);
    removeDispatchCaches(asWebGpu);
  });

  it('volatile uniforms keep tfjs path; a cached buffer destroyed clears the bind groups; removal restores the stock methods', () => {
    const { backend, asWebGpu, bindGroupsMade, program } = fakeBackend();
    const stockMakeUniforms = backend.makeUniforms;
    installDispatchCaches(asWebGpu);
    expect(dispatchCachesInstalled(asWebGpu)).toBe(true);
    const manager = backend.bufferManager;
    const output = manager.acquireBuffer(8, 128);
    const input = manager.acquireBuffer(8, 128);
    backend.recordAndSubmit({ ...program, volatileUniforms: true } as never, output, [input], [1, 2]);
    expect(backend.uniformWrites).toBe(1);
    backend.recordAndSubmit(program, output, [input], [1, 2]);
    backend.recordAndSubmit(program, output, [input], [1, 2]);
    expect(bindGroupsMade.length).toBe(2);
    manager.releaseBuffer(input, false); // tfjs destroys such a buffer
    backend.recordAndSubmit(program, output, [manager.acquireBuffer(8, 128)], [1, 2]);
    backend.recordAndSubmit(program, output, [input], [1, 2]);
    expect(bindGroupsMade.length).toBe(4);
    removeDispatchCaches(asWebGpu);
    expect(dispatchCachesInstalled(asWebGpu)).toBe(false);
    expect(backend.makeUniforms).toBe(stockMakeUniforms);
    backend.recordAndSubmit(program, output, [input], [1, 2]);
    expect(bindGroupsMade.length).toBe(5);
    expect(backend.uniformWrites).toBe(2);
  });

  it('a disposed backend is left alone: markGpuStep no longer submits its work', () => {
    const { backend, asWebGpu } = fakeBackend();
    installDispatchCaches(asWebGpu);
    (backend as unknown as { commandEncoder: object | null }).commandEncoder = {};
    markGpuStep();
    expect(backend.submits).toBe(1);
    backend.bufferManager.dispose();
    (backend as unknown as { commandEncoder: object | null }).commandEncoder = {};
    markGpuStep();
    expect(backend.submits).toBe(1);
    removeDispatchCaches(asWebGpu);
  });

  it('tells uniforms apart by type, values, the sign of zero and where fields end; equal ones hash alike', () => {
    const one = (type: string, data: number[]) => [{ type, data }];
    const same = (a: Array<{ type: string; data: number[] }>, b: Array<{ type: string; data: number[] }>) => sameUniforms(a, b);
    expect(same(one('int32', [1, 2]), one('float32', [1, 2]))).toBe(false);
    expect(same(one('float32', [0]), one('float32', [-0]))).toBe(false);
    expect(uniformHash(one('float32', [0]))).not.toBe(uniformHash(one('float32', [-0])));
    expect(same(one('float32', [NaN, Infinity]), one('float32', [NaN, Infinity]))).toBe(true);
    expect(uniformHash(one('float32', [NaN, 0.25]))).toBe(uniformHash(one('float32', [NaN, 0.25])));
    const split = [{ type: 'int32', data: [1] }, { type: 'int32', data: [2, 3] }];
    const joined = [{ type: 'int32', data: [1, 2] }, { type: 'int32', data: [3] }];
    expect(same(split, joined)).toBe(false);
    expect(uniformHash(split)).not.toBe(uniformHash(joined));
  });
});

describe.skipIf(!webGpu.available)(`dispatch caches on webgpu ${webGpu.skipReason}`, () => {
  let backend: WebGPUBackend;
  beforeAll(async () => {
    await initWebGpu();
    backend = tf.backend() as WebGPUBackend;
    installDispatchCaches(backend);
  });
  afterAll(() => installDispatchCaches(backend));

  it("write tfjs's uniform bytes: every layout of a training step's programs, read back from the cached buffers", async () => {
    const stock = Object.getPrototypeOf(backend).makeUniforms as Parameters<typeof uniformBytes>[1];
    const uniforms = [
      [{ type: 'float32', data: [NaN] }, { type: 'float32', data: [Infinity] }, { type: 'int32', data: [2, 8, 8, 3] }, { type: 'int32', data: [192, 24, 3] }],
      [{ type: 'int32', data: [5] }, { type: 'int32', data: [1, 2, 3, 4, 5] }, { type: 'float32', data: [0.25, -0] }, { type: 'uint32', data: [4294967295, 7] }],
      [{ type: 'int32', data: [1, 2, 3, 4, 5, 6] }, { type: 'int32', data: [7, 8, 9] }, { type: 'int32', data: [] }],
    ];
    for (const programUniform of uniforms) {
      let written: Uint8Array | undefined;
      const queue = backend.queue;
      const writeBuffer = queue.writeBuffer;
      queue.writeBuffer = ((buffer: GPUBuffer, offset: number, data: ArrayBuffer, dataOffset = 0, size?: number) => {
        written = new Uint8Array(data, dataOffset, size).slice();
        return writeBuffer.call(queue, buffer, offset, data, dataOffset, size);
      }) as typeof queue.writeBuffer;
      try {
        stock.call(backend, structuredClone(programUniform));
      } finally {
        queue.writeBuffer = writeBuffer;
      }
      expect(uniformBytes(programUniform, stock)).toEqual(written);
      // and what the cache's own buffer holds
      const binding = (backend as unknown as { makeUniforms: typeof stock }).makeUniforms.call(backend, programUniform);
      expect(await readBuffer(backend, binding.buffer, binding.size)).toEqual(written);
    }
  });

  it('train as without them, bit for bit, reusing most bind groups and every uniform buffer once warm', async () => {
    const run = async (cached: boolean) => {
      if (cached) installDispatchCaches(backend);
      else removeDispatchCaches(backend);
      const settings = benchSettings({ resolution: 32, width: 0.125, batch: 2 });
      // every step through tfjs: replayed steps (step-replay.ts) would not ask the caches for anything
      const trainer = createTrainer({ ...settings, train: { ...settings.train, seed: 11 } }, { stepReplay: false });
      const real = tf.tidy(() => tf.randomUniform([2, 32, 32, 3], -1, 1, 'float32', 5)) as tf.Tensor4D;
      const losses: number[] = [];
      let warm = dispatchCacheStats(backend);
      try {
        for (let step = 0; step < 8; step++) {
          if (step === 6) warm = dispatchCacheStats(backend);
          losses.push(...Object.values(await trainer.stepAsync(real)));
        }
        const stats = dispatchCacheStats(backend);
        const weights = await Promise.all(trainer.generator.getWeights().concat(trainer.discriminator.getWeights()).map((w) => w.data()));
        return { losses, weights, stats, warm };
      } finally {
        real.dispose();
        trainer.dispose();
      }
    };
    const stock = await run(false);
    const cached = await run(true);
    expect(cached.losses).toEqual(stock.losses);
    expect(cached.weights).toEqual(stock.weights);
    console.log(`bind groups reused in steps 7 and 8: ${cached.stats.bindGroupHits - cached.warm.bindGroupHits} of ${cached.stats.bindGroupHits + cached.stats.bindGroupMisses - cached.warm.bindGroupHits - cached.warm.bindGroupMisses}`);
    const lastTwo = {
      hits: cached.stats.bindGroupHits - cached.warm.bindGroupHits,
      misses: cached.stats.bindGroupMisses - cached.warm.bindGroupMisses,
      uniformMisses: cached.stats.uniformMisses - cached.warm.uniformMisses,
    };
    // measured on lavapipe: all bind groups reused in the seventh and eighth steps (16% by chance, without the sites)
    expect(lastTwo.hits / (lastTwo.hits + lastTwo.misses)).toBeGreaterThan(0.95);
    expect(lastTwo.uniformMisses).toBe(0);
    expect(cached.stats.bindGroupUncached).toBe(0);
    // what the sites made for themselves: per-channel vectors and scalars, a few KiB at this size
    expect(cached.stats.ownBufferBytes).toBeGreaterThan(0);
    expect(cached.stats.ownBufferBytes).toBeLessThan(1 << 20);
  }, 240_000);

  it('serve code that never marks steps (sampling, inference) with the results of tfjs alone', async () => {
    const discriminator = buildDiscriminator({ resolution: 32, width: 0.125, dropout: 0.25, latentDim: 8 }, { seed: 3 });
    const images = tf.tidy(() => tf.randomUniform([2, 32, 32, 3], -1, 1, 'float32', 9));
    const predict = () => tf.tidy(() => discriminator.predict(images) as tf.Tensor).data();
    try {
      removeDispatchCaches(backend);
      const stock = await predict();
      installDispatchCaches(backend);
      expect(await predict()).toEqual(stock);
      expect(await predict()).toEqual(stock);
    } finally {
      images.dispose();
      discriminator.dispose();
    }
  });
});

async function readBuffer(backend: WebGPUBackend, buffer: GPUBuffer, size: number): Promise<Uint8Array> {
  const device = backend.device;
  const staging = device.createBuffer({ size, usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ });
  const encoder = device.createCommandEncoder();
  encoder.copyBufferToBuffer(buffer, 0, staging, 0, size);
  device.queue.submit([encoder.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const bytes = new Uint8Array(staging.getMappedRange()).slice();
  staging.unmap();
  staging.destroy();
  return bytes;
}
