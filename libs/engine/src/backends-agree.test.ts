import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { initBackend } from './backend';
import { tinySettings, trainSeededSteps } from './test-fixtures';
import type { StepMetrics } from './trainer';
import { probeWebGpu } from './webgpu/index';

/**
 * The same seeded training steps on every backend that runs here give the same losses.
 *
 * Same everything: initial weights (seeded Glorot, drawn in JS), real batches, and, with
 * deviceRandom, the latents and the dropout masks (Philox streams: drawn on the device on webgpu,
 * the same numbers in JS elsewhere). Batch 4, so the cpu backend's ResizeNearestNeighborGrad must be
 * the fixed one (cpu-kernels.ts): the stock kernel gives images 2-4 another image's gradient.
 *
 * Tolerance: 1e-4 on every loss of the 3 steps. Measured here (2026-11-26): wasm and webgpu
 * (lavapipe) within 7e-7 of cpu; the stock cpu ResizeNearestNeighborGrad puts cpu 7e-3 away, which
 * this catches. Float32 sums in other orders differ by ~1e-7 relative; Adam divides each gradient by
 * its own RMS, so a near-zero gradient of another sign moves a weight by up to the learning rate
 * (generator weights differ by up to ~5e-4 after 3 steps) without moving the losses much.
 */
const LOSS_TOLERANCE = 1e-4;
const STEPS = 3;
const LOSSES = ['d_loss_real', 'd_loss_fake', 'g_loss'] as const;

const settings = tinySettings({ learningRate: 2e-4 });

async function trainOn(backend: 'cpu' | 'wasm' | 'webgpu'): Promise<{ metrics: StepMetrics[]; generatorWeights: Float32Array[] }> {
  await initBackend(backend, { warn: () => {} });
  return trainSeededSteps(settings, STEPS);
}

function maxDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

const webGpu = await probeWebGpu();

describe('numerical agreement of the backends', () => {
  it(`cpu, wasm${webGpu.ok ? ' and webgpu' : ''}: ${STEPS} seeded steps (batch 4, dropout 0.25) give losses within ${LOSS_TOLERANCE}`, async () => {
    if (!webGpu.ok) process.stdout.write(`webgpu left out: ${webGpu.reason}\n`);
    const reference = await trainOn('cpu');
    const others = { wasm: await trainOn('wasm'), ...(webGpu.ok ? { webgpu: await trainOn('webgpu') } : {}) };
    await tf.setBackend('cpu');

    for (const [backend, result] of Object.entries(others)) {
      const lossDifferences = result.metrics.flatMap((m, step) => LOSSES.map((name) => Math.abs(m[name] - reference.metrics[step][name])));
      const weightDifference = Math.max(...result.generatorWeights.map((w, i) => maxDifference(w, reference.generatorWeights[i])));
      process.stdout.write(
        `${backend} against cpu: max loss difference ${Math.max(...lossDifferences).toExponential(2)}, ` +
          `max generator weight difference ${weightDifference.toExponential(2)}\n`,
      );
      for (const difference of lossDifferences) expect(difference).toBeLessThanOrEqual(LOSS_TOLERANCE);
      // and the runs did train: the losses moved
      expect(result.metrics[STEPS - 1].g_loss).not.toBe(result.metrics[0].g_loss);
    }
  });
});
