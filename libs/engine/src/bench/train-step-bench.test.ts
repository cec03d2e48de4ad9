import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { modelFlops } from '@facegan/model';
import { webGpuForTests } from '../webgpu/test-support';
import { benchSettings, benchTrainStep, prepareBenchBackend } from './train-step-bench';

const webGpu = await webGpuForTests();

// What the benchmark reports, on the cpu backend and a tiny model (not how fast anything is).
describe('benchTrainStep', () => {
  it('times real training steps and derives img/s and GFLOP/s from the median; the profile counts kernels once', async () => {
    const backend = await prepareBenchBackend({ backend: 'cpu' });
    expect(backend).toMatchObject({ backend: 'cpu', kernels: 'n/a', threads: 1 });
    const config = { resolution: 32, width: 1 / 32, batch: 2, steps: 3, warmup: 1, profile: true };
    const tensors = tf.memory().numTensors;
    const result = await benchTrainStep(config);
    expect(tf.memory().numTensors).toBe(tensors);

    expect(result.stepFlops).toBe(modelFlops(benchSettings(config).model, 2).trainStep);
    expect(result.stepMs).toHaveLength(3);
    const sorted = [...result.stepMs].sort((a, b) => a - b);
    expect(result.msPerStep).toBe(sorted[1]);
    expect(result.meanMsPerStep).toBeCloseTo((sorted[0] + sorted[1] + sorted[2]) / 3, 9);
    expect(result.imagesPerSecond).toBeCloseTo(2 / (result.msPerStep / 1e3), 6);
    expect(result.gflopsPerSecond).toBeCloseTo(result.stepFlops / (result.msPerStep / 1e3) / 1e9, 6);
    // no sub-pixel kernels on cpu: the generator runs upsampling + conv, every FLOP counted
    expect(result.executedFlops).toBe(result.stepFlops);
    expect(result.executedGflopsPerSecond).toBeCloseTo(result.gflopsPerSecond, 6);
    expect(result.cpuMsPerStep).toBeGreaterThan(0);
    expect(result.pipelined).toBe(false);
    expect(result.queueMsPerStep).toBeUndefined();

    const names = result.profile?.kernels.map((row) => row.kernel) ?? [];
    expect(names).toContain('FusedConv2D');
    expect(names).toContain('Conv2DBackpropFilter');
    // op scopes around kernels (fusedConv2d__op) would count their kernels twice
    expect(names.filter((name) => name.endsWith('__op'))).toEqual([]);
    const conv = result.profile?.kernels.find((row) => row.kernel === 'FusedConv2D');
    expect(conv?.calls).toBeGreaterThan(0);
    expect(result.profile?.kernelMs).toBeCloseTo(result.profile?.kernels.reduce((sum, row) => sum + row.ms, 0) ?? NaN, 6);
  });

  it('refuses wasm-only options on other backends', async () => {
    await expect(prepareBenchBackend({ backend: 'cpu', threads: 2 })).rejects.toThrow(/wasm backend only/);
    await expect(prepareBenchBackend({ backend: 'cpu', stockKernels: true })).rejects.toThrow(/wasm backend only/);
  });
});

describe.skipIf(!webGpu.available)(`benchTrainStep on webgpu ${webGpu.skipReason}`, () => {
  it('times pipelined steps (its read-backs are asynchronous) and profiles the kernels by GPU time', async () => {
    const backend = await prepareBenchBackend({ backend: 'webgpu' });
    expect(backend.backend).toBe('webgpu');
    try {
      const tensors = tf.memory().numTensors;
      const result = await benchTrainStep({ resolution: 32, width: 1 / 32, batch: 2, steps: 3, warmup: 1, profile: true });
      expect(tf.memory().numTensors).toBe(tensors);
      expect(result.pipelined).toBe(true);
      expect(result.stepMs).toHaveLength(3);
      expect(result.stepMs.every((ms) => ms > 0)).toBe(true);
      // warmed until the dispatch caches settled: a few steps (a weight and its update alternate between two buffers)
      expect(result.settleSteps).toBeGreaterThanOrEqual(2);
      expect(result.settleSteps).toBeLessThan(12);
      // settled steps are replayed (webgpu/step-replay.ts)
      expect(result.replayedSteps).toBe(3);
      // queueing is part of a step
      expect(result.queueMsPerStep).toBeGreaterThan(0);
      expect(result.queueMsPerStep).toBeLessThan(Math.max(...result.stepMs));
      // the project's sub-pixel kernels are registered on webgpu
      expect(result.executedFlops).toBeLessThan(result.stepFlops);
      const names = result.profile?.kernels.map((row) => row.kernel) ?? [];
      expect(names).toEqual(expect.arrayContaining(['Conv2DBackpropFilter', 'FaceganPhaseInterleave']));
      expect(result.profile?.kernelMs).toBeGreaterThan(0);
    } finally {
      await tf.setBackend('cpu');
    }
  });

  it("times the replayed step's dispatches alone, all of them and by program (gpuBreakdownRepeats)", async () => {
    await prepareBenchBackend({ backend: 'webgpu' });
    try {
      const result = await benchTrainStep({ resolution: 32, width: 1 / 32, batch: 2, steps: 2, warmup: 1, profile: false, gpuBreakdownRepeats: 2 });
      const breakdown = result.gpuBreakdown!;
      expect(breakdown.msPerStep).toBeGreaterThan(0);
      const labels = breakdown.groups.map((group) => group.label);
      expect(labels).toEqual(expect.arrayContaining(['faceganForwardConvGemm', 'faceganBackpropFilterGemm', 'faceganAdamWeight']));
      expect(breakdown.groups.every((group) => group.dispatches > 0 && group.aloneMs > 0)).toBe(true);
      // longest alone first; the first six also timed left out
      expect(breakdown.groups[0].aloneMs).toBeGreaterThanOrEqual(breakdown.groups[1].aloneMs);
      expect(breakdown.groups.filter((group) => !Number.isNaN(group.withoutMs))).toHaveLength(6);
      // and each dispatch alone: the longest first, indices into the step's dispatches
      expect(breakdown.longestDispatches.length).toBeGreaterThan(0);
      expect(breakdown.longestDispatches[0].ms).toBeGreaterThanOrEqual(breakdown.longestDispatches[breakdown.longestDispatches.length - 1].ms);
      expect(breakdown.longestDispatches.every((d) => d.index >= 0 && d.workgroups.length === 3)).toBe(true);
      expect(breakdown.sumOfDispatchesMs).toBeGreaterThan(0);
      // all of them in the step's order: as many as the groups count
      expect(breakdown.eachDispatch).toHaveLength(breakdown.groups.reduce((sum, group) => sum + group.dispatches, 0));
    } finally {
      await tf.setBackend('cpu');
    }
  });
});
