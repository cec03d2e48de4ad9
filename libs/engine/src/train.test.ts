import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import * as data from '@facegan/data';
import { initBackend } from './backend';
import { isResumableCheckpoint } from './checkpoint/index';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { randomDataset, tinySettings } from './test-fixtures';
import { randomLatents } from './sample';
import { clearGemmTuning, gemmTuning, initWebGpu } from './webgpu/index';
import { webGpuForTests } from './webgpu/test-support';
import { trainVariant, type CheckpointReport, type EpochReport, type GemmTuningReport, type StepProgress, type TrainHooks, type TrainOptions } from './train';

const queued = vi.hoisted(() => ({ steps: 0 }));
const webGpu = await webGpuForTests();

// counts the steps queued (stepAsync calls), to see what pipelining queues ahead
vi.mock('./trainer', async (importOriginal) => {
  const actual = await importOriginal<typeof import('./trainer')>();
  return {
    ...actual,
    createTrainer: (...args: Parameters<typeof actual.createTrainer>) => {
      const trainer = actual.createTrainer(...args);
      const stepAsync = trainer.stepAsync;
      trainer.stepAsync = (realImages) => {
        queued.steps++;
        return stepAsync(realImages);
      };
      return trainer;
    },
  };
});

vi.mock('@facegan/data', async (importOriginal) => {
  const actual = await importOriginal<typeof import('@facegan/data')>();
  return { ...actual, encodeGridPng: vi.fn(actual.encodeGridPng) };
});

beforeAll(async () => {
  await tf.setBackend('cpu');
});

beforeEach(() => {
  vi.mocked(data.encodeGridPng).mockClear();
});

function recordingHooks(onEpoch: TrainHooks['onEpoch'] = async () => {}) {
  const steps: StepProgress[] = [];
  const epochs: EpochReport[] = [];
  const hooks: TrainHooks = {
    onStep: (p) => steps.push(p),
    onEpoch: async (r) => {
      epochs.push(r);
      await onEpoch(r);
    },
  };
  return { steps, epochs, hooks };
}

/**
 * Two epochs of 3 steps (12 images, batch 4), each step logged: the step records, each epoch's g_loss,
 * the generator's images for fixed latents after the last epoch, and how many steps had been queued
 * when each step's metrics arrived.
 */
async function trainRecorded(pipelined: boolean | undefined, autotune?: TrainOptions['autotune'], tuningFile?: string) {
  const { steps, epochs, hooks } = recordingHooks();
  let images: number[] = [];
  hooks.onEpoch = async (r) => {
    epochs.push(r);
    images = Array.from(await r.sample(randomLatents(2, 32, 9)));
  };
  const queuedAtStep: number[] = [];
  const tunings: GemmTuningReport[] = [];
  hooks.onGemmTuning = (t) => tunings.push(t);
  const queuedBefore = queued.steps;
  hooks.onStep = (p) => {
    queuedAtStep.push(queued.steps - queuedBefore);
    steps.push(p);
  };
  const tensorsBefore = tf.memory().numTensors;
  // deviceRandom: seeded dropout masks (tfjs's Dropout is not), so two runs can be compared
  const result = await trainVariant(tinySettings({ epochs: 2, logEvery: 1 }), randomDataset(12), hooks, { pipelined, deviceRandom: true, autotune, tuningFile });
  expect(tf.memory().numTensors).toBe(tensorsBefore);
  return {
    result,
    steps: steps.map((p) => [p.epoch, p.step, p.globalStep, p.metrics]),
    epochs: epochs.map((e) => e.metrics.g_loss),
    weights: images,
    queuedAtStep,
    tunings,
  };
}

const STEP_METRICS = ['d_acc_fake', 'd_acc_real', 'd_loss_fake', 'd_loss_real', 'g_loss'];

describe('trainVariant', () => {
  it('trains every epoch: step hooks, exact epoch means, a 4 × 7 grid from the fixed latents', async () => {
    const { steps, epochs, hooks } = recordingHooks();
    const tensorsBefore = tf.memory().numTensors;
    // 10 images, batch 4: 2 steps per epoch, the last 2 images dropped
    const result = await trainVariant(tinySettings({ epochs: 2 }), randomDataset(10), hooks);

    expect(result).toEqual({ status: 'done', epochs: 2 });
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    expect(steps.map((s) => [s.epoch, s.step, s.stepsPerEpoch, s.globalStep])).toEqual([
      [1, 1, 2, 1],
      [1, 2, 2, 2],
      [2, 1, 2, 3],
      [2, 2, 2, 4],
    ]);
    expect(epochs.map((e) => e.epoch)).toEqual([1, 2]);
    for (const [i, report] of epochs.entries()) {
      expect(Object.keys(report.metrics).sort()).toEqual([...STEP_METRICS, 'epoch_seconds', 'img_per_s'].sort());
      const epochSteps = steps.slice(2 * i, 2 * i + 2);
      for (const name of STEP_METRICS) {
        expect(report.metrics[name]).toBeCloseTo((epochSteps[0].metrics[name] + epochSteps[1].metrics[name]) / 2, 10);
      }
      expect(report.metrics.epoch_seconds).toBeGreaterThan(0);
      expect(report.metrics.img_per_s).toBeCloseTo(8 / report.metrics.epoch_seconds, 6);
      // a real PNG: signature, then IHDR width = 7·32 + 6·2, height = 4·32 + 3·2
      expect(report.gridPng.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
      expect([report.gridPng.readUInt32BE(16), report.gridPng.readUInt32BE(20)]).toEqual([236, 134]);
    }

    const gridCalls = vi.mocked(data.encodeGridPng).mock.calls;
    expect(gridCalls).toHaveLength(2);
    for (const [images, options] of gridCalls) {
      expect(options).toEqual({ count: 28, resolution: 32, channels: 3, rows: 4, cols: 7 });
      expect(images).toHaveLength(28 * 32 * 32 * 3);
      expect(images.every((x) => x >= -1 && x <= 1)).toBe(true);
    }
  });

  it('samples the generator of the epoch in inference mode, in batches, during onEpoch', async () => {
    const settings = tinySettings({ epochs: 1 });
    // 70 latents: more than one batch of the generator
    const latents = randomLatents(70, settings.model.latentDim, 5);
    let samples: Float32Array[] = [];
    let gridImages: Float32Array | undefined;
    const tensorsBefore = tf.memory().numTensors;
    await trainVariant(settings, randomDataset(8), {
      onEpoch: async (r) => {
        samples = [await r.sample(latents), await r.sample(latents.subarray(0, 28 * settings.model.latentDim))];
        gridImages = vi.mocked(data.encodeGridPng).mock.calls[0][0] as Float32Array;
      },
    });
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    const [all, first] = samples;
    expect(all).toHaveLength(70 * 32 * 32 * 3);
    expect(all.every((x) => x >= -1 && x <= 1)).toBe(true);
    // the same latents give the same images, whatever batch they are in
    expect(Array.from(first)).toEqual(Array.from(all.subarray(0, first.length)));
    expect(gridImages).toHaveLength(first.length);
  });

  it('calls onStep every logEvery steps and on the last step, and waits for onEpoch', async () => {
    const events: string[] = [];
    const hooks: TrainHooks = {
      onStep: (p) => events.push(`step ${p.epoch}.${p.step}`),
      onEpoch: async (r) => {
        events.push(`epoch ${r.epoch} begins`);
        await new Promise((resolve) => setTimeout(resolve, 20));
        events.push(`epoch ${r.epoch} saved`);
      },
    };
    // 12 images: 3 steps per epoch; logEvery 2 logs steps 2 and 3
    await trainVariant(tinySettings({ epochs: 2, logEvery: 2 }), randomDataset(12), hooks);
    expect(events).toEqual([
      'step 1.2',
      'step 1.3',
      'epoch 1 begins',
      'epoch 1 saved',
      'step 2.2',
      'step 2.3',
      'epoch 2 begins',
      'epoch 2 saved',
    ]);
  });

  it('stops with diverged on a NaN loss', async () => {
    const { steps, epochs, hooks } = recordingHooks();
    const dataset = randomDataset(8);
    dataset.images.fill(NaN);
    const result = await trainVariant(tinySettings({ epochs: 3 }), dataset, hooks);
    expect(result).toEqual({ status: 'diverged', epoch: 1 });
    expect(steps).toHaveLength(0);
    expect(epochs).toHaveLength(0);
  });

  it('stops with aborted after the current step', async () => {
    const controller = new AbortController();
    const { steps, epochs, hooks } = recordingHooks();
    hooks.onStep = (p) => {
      steps.push(p);
      if (p.globalStep === 3) controller.abort();
    };
    const result = await trainVariant(tinySettings({ epochs: 3 }), randomDataset(8), hooks, { signal: controller.signal });
    expect(result).toEqual({ status: 'aborted', epoch: 2 });
    expect(steps).toHaveLength(3);
    expect(epochs.map((e) => e.epoch)).toEqual([1]);
  });

  it('pipelined (as on webgpu): the same steps, metrics, epochs and weights as step by step', async () => {
    const stepByStep = await trainRecorded(false);
    const pipelined = await trainRecorded(true);
    expect(pipelined.result).toEqual({ status: 'done', epochs: 2 });
    expect(pipelined.steps).toHaveLength(6);
    expect(pipelined.steps).toEqual(stepByStep.steps);
    expect(pipelined.epochs).toEqual(stepByStep.epochs);
    expect(pipelined.weights).toEqual(stepByStep.weights);
    // steps queued when each step's metrics arrive: one ahead, but never across an epoch's end
    expect(stepByStep.queuedAtStep).toEqual([1, 2, 3, 4, 5, 6]);
    expect(pipelined.queuedAtStep).toEqual([2, 3, 3, 5, 6, 6]);
    // the default on the CPU backends: step by step
    expect((await trainRecorded(undefined)).queuedAtStep).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('pipelined: an abort stops once the step in flight is done, and leaks nothing', async () => {
    const controller = new AbortController();
    const { steps, epochs, hooks } = recordingHooks();
    hooks.onStep = (p) => {
      steps.push(p);
      if (p.globalStep === 1) controller.abort();
    };
    const tensorsBefore = tf.memory().numTensors;
    const result = await trainVariant(tinySettings({ epochs: 3, logEvery: 1 }), randomDataset(12), hooks, { signal: controller.signal, pipelined: true });
    expect(result).toEqual({ status: 'aborted', epoch: 1 });
    expect(steps.map((p) => p.globalStep)).toEqual([1]);
    expect(epochs).toHaveLength(0);
    expect(tf.memory().numTensors).toBe(tensorsBefore);
  });

  // on wasm: a step there takes ~0.1 s, on cpu ~1 s
  describe('checkpoints (wasm)', () => {
    let folder: string;
    beforeAll(async () => {
      folder = mkdtempSync(join(tmpdir(), 'facegan-train-'));
      await initBackend('wasm');
    });
    afterAll(async () => {
      rmSync(folder, { recursive: true, force: true });
      await tf.setBackend('cpu');
    });

    // dropout 0: tfjs's Dropout is not seeded, everything else is
    const base = tinySettings({ epochs: 5 });
    const settings = { ...base, model: { ...base.model, dropout: 0 }, engine: { ...base.engine, checkpointEvery: 2 } };
    const dataset = randomDataset(8);
    let uninterrupted: EpochReport[] = [];

    it('are written every engine.checkpointEvery epochs and after the last; older ones keep only their generator', async () => {
      const { epochs, hooks } = recordingHooks();
      const checkpoints: CheckpointReport[] = [];
      hooks.onCheckpoint = async (report) => {
        checkpoints.push(report);
      };
      const tensorsBefore = tf.memory().numTensors;
      await trainVariant(settings, dataset, hooks, { checkpointFolder: join(folder, 'full') });
      expect(tf.memory().numTensors).toBe(tensorsBefore);
      uninterrupted = epochs;
      expect(checkpoints.map(({ epoch, globalStep }) => [epoch, globalStep])).toEqual([
        [2, 4],
        [4, 8],
        [5, 10],
      ]);
      expect(checkpoints.map((c) => basename(c.folder))).toEqual(['epoch-0002', 'epoch-0004', 'epoch-0005']);
      expect(checkpoints.map((c) => isResumableCheckpoint(c.folder))).toEqual([false, false, true]);
      expect(existsSync(join(checkpoints[0].folder, 'generator.weights.bin'))).toBe(true);
    });

    it('a run stopped after its epoch-2 checkpoint and resumed from it gives the uninterrupted numbers', async () => {
      const checkpointFolder = join(folder, 'interrupted');
      const controller = new AbortController();
      const first = recordingHooks();
      first.hooks.onCheckpoint = async () => controller.abort(); // as if killed right after the checkpoint
      const stopped = await trainVariant(settings, dataset, first.hooks, { checkpointFolder, signal: controller.signal });
      expect(stopped).toEqual({ status: 'aborted', epoch: 3 });

      const rest = recordingHooks();
      const tensorsBefore = tf.memory().numTensors;
      const result = await trainVariant(settings, dataset, rest.hooks, {
        checkpointFolder,
        resumeFrom: join(checkpointFolder, 'epoch-0002'),
      });
      expect(tf.memory().numTensors).toBe(tensorsBefore);
      expect(result).toEqual({ status: 'done', epochs: 5 });
      expect(rest.steps.map((s) => [s.epoch, s.globalStep])).toEqual([
        [3, 5],
        [3, 6],
        [4, 7],
        [4, 8],
        [5, 9],
        [5, 10],
      ]);
      expect(rest.epochs.map((e) => e.epoch)).toEqual([3, 4, 5]);
      // Adam's β powers come back as pow(β, t + 1) rather than a running product: equal to ~1e-7
      for (const [i, report] of rest.epochs.entries()) {
        for (const name of STEP_METRICS) expect(report.metrics[name]).toBeCloseTo(uninterrupted[i + 2].metrics[name], 5);
      }
      // the checkpoint it resumed from was pruned once a newer one was written
      expect(isResumableCheckpoint(join(checkpointFolder, 'epoch-0002'))).toBe(false);
      expect(isResumableCheckpoint(join(checkpointFolder, 'epoch-0005'))).toBe(true);
    });

    it('refuses a checkpoint whose steps per epoch do not fit the dataset', async () => {
      const { hooks } = recordingHooks();
      const resumeFrom = join(folder, 'full', 'epoch-0005');
      await expect(trainVariant(settings, randomDataset(12), hooks, { resumeFrom })).rejects.toThrow(/3 steps an epoch/);
    });
  });

  it('rejects a dataset of another resolution', async () => {
    const { hooks } = recordingHooks();
    await expect(trainVariant(tinySettings(), randomDataset(4, 64), hooks)).rejects.toThrow(/64 px/);
  });
});

describe.skipIf(!webGpu.available)(`trainVariant on webgpu ${webGpu.skipReason}`, () => {
  beforeAll(async () => {
    await initWebGpu();
  });
  afterAll(async () => {
    await tf.setBackend('cpu');
  });

  it('pipelines by default, with the numbers of a step-by-step run', async () => {
    const stepByStep = await trainRecorded(false);
    const byDefault = await trainRecorded(undefined);
    expect(byDefault.result).toMatchObject({ status: 'done', epochs: 2, replayedSteps: { steps: 6 } });
    // settled steps were replayed without tfjs (webgpu/step-replay.ts), with the numbers of tfjs's steps
    expect(byDefault.result.status === 'done' && byDefault.result.replayedSteps!.replayed).toBeGreaterThan(0);
    expect(byDefault.queuedAtStep).toEqual([2, 3, 3, 5, 6, 6]);
    expect(byDefault.steps).toEqual(stepByStep.steps);
    expect(byDefault.weights).toEqual(stepByStep.weights);
  });

  it('tunes the convolution GEMMs in the first step when asked (the default on a GPU, not on lavapipe), with the same numbers to float rounding', async () => {
    clearGemmTuning();
    const untuned = await trainRecorded(undefined);
    expect(gemmTuning()).toEqual([]);
    expect(untuned.tunings).toEqual([]);
    const folder = mkdtempSync(join(tmpdir(), 'facegan-tuning-'));
    const tuningFile = join(folder, 'tuning.json');
    // the 8 main variants, timed once each: lavapipe compiles slowly (gemm-tuning.test.ts covers the rest)
    const quickTuning = { refine: false, rounds: 1, callsPerRound: 1 };
    const tuned = await trainRecorded(undefined, quickTuning, tuningFile);
    try {
      // every forward, input-gradient and filter-gradient convolution of G and D, once
      const timed = gemmTuning().length;
      expect(timed).toBeGreaterThanOrEqual(20);
      expect(tuned.tunings).toEqual([expect.objectContaining({ timed, fromFile: 0 })]);
      expect(tuned.tunings[0].tunedMs).toBeLessThanOrEqual(tuned.tunings[0].defaultMs);
      // A new process (no choices in memory) reads them back and times nothing; two such runs give the same numbers
      // bit for bit (the tuning run's own first step ran the default plans, so it matches them only to rounding).
      // So a run resumed on this device runs the variants the interrupted run ran after its first step.
      clearGemmTuning();
      const again = await trainRecorded(undefined, quickTuning, tuningFile);
      clearGemmTuning();
      const andAgain = await trainRecorded(undefined, quickTuning, tuningFile);
      expect(again.tunings).toEqual([expect.objectContaining({ timed: 0, fromFile: timed })]);
      expect(andAgain.steps).toEqual(again.steps);
      expect(andAgain.weights).toEqual(again.weights);
      expect(tuned.result).toMatchObject({ status: 'done', epochs: 2 });
      expect(tuned.queuedAtStep).toEqual(untuned.queuedAtStep);
      const flat = (steps: typeof untuned.steps) => steps.flatMap(([, , , metrics]) => Object.values(metrics as Record<string, number>));
      const [a, b] = [flat(tuned.steps), flat(untuned.steps)];
      expect(a).toHaveLength(b.length);
      a.forEach((value, i) => expect(value).toBeCloseTo(b[i], 4));
      // the generator's images after 6 Adam steps: rounding differences (a filter gradient's split-K order) grow
      tuned.weights.forEach((value, i) => expect(value).toBeCloseTo(untuned.weights[i], 2));
    } finally {
      clearGemmTuning();
      rmSync(folder, { recursive: true, force: true });
    }
  });
});
