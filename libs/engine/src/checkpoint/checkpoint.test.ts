import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend';
import { randomDataset, tinySettings } from '../test-fixtures';
import { createTrainer, type Trainer } from '../trainer';
import {
  fileModelHandler,
  isResumableCheckpoint,
  loadCheckpointGenerator,
  pruneResumeState,
  readCheckpointState,
  restoreCheckpoint,
  writeCheckpoint,
} from './index';

let folder: string;
beforeAll(async () => {
  folder = mkdtempSync(join(tmpdir(), 'facegan-checkpoint-'));
  await initBackend('wasm');
});
afterAll(() => rmSync(folder, { recursive: true, force: true }));

const settings = (() => {
  const base = tinySettings({ epochs: 3 });
  return { ...base, model: { ...base.model, dropout: 0 } };
})();

function trainSteps(trainer: Trainer, steps: number, seed = 1) {
  const metrics = [];
  for (let i = 0; i < steps; i++) {
    const batch = tf.tensor4d(randomDataset(4, 32, seed + i).images, [4, 32, 32, 3]);
    metrics.push(trainer.step(batch));
    batch.dispose();
  }
  return metrics;
}

const values = (tensors: tf.Tensor[]) => tensors.map((t) => Array.from(t.dataSync()));

async function optimizerValues(optimizer: tf.AdamOptimizer) {
  const weights = await optimizer.getWeights();
  const result = values(weights.map((w) => w.tensor));
  weights[0].tensor.dispose(); // the iteration count is a fresh scalar; the moments are the optimizer's
  return result;
}

describe('fileModelHandler', () => {
  it('saves a Layers model as <name>.json + <name>.weights.bin that tf.loadLayersModel reads back', async () => {
    const trainer = createTrainer(settings);
    const target = join(folder, 'handler');
    mkdirSync(target);
    const result = await trainer.generator.save(fileModelHandler(target, 'generator'));
    expect(result.modelArtifactsInfo.weightDataBytes).toBeGreaterThan(0);
    expect(readdirSync(target).sort()).toEqual(['generator.json', 'generator.weights.bin']); // no temporary files left
    const json = JSON.parse(readFileSync(join(target, 'generator.json'), 'utf8'));
    expect(json.weightsManifest[0].paths).toEqual(['generator.weights.bin']);
    expect(json.modelTopology.config.name).toBe('generator');

    const loaded = await tf.loadLayersModel(fileModelHandler(target, 'generator'));
    const latents = tf.randomNormal([2, settings.model.latentDim], 0, 1, 'float32', 5);
    const [expected, actual] = [trainer.generator, loaded].map((model) =>
      Array.from((model.predict(latents) as tf.Tensor).dataSync()),
    );
    expect(actual).toEqual(expected);
    tf.dispose(latents);
    loaded.dispose();
    trainer.dispose();

    truncateSync(join(target, 'generator.weights.bin'), 100);
    await expect(tf.loadLayersModel(fileModelHandler(target, 'generator'))).rejects.toThrow(/holds 100 bytes/);
  });
});

describe('writeCheckpoint / restoreCheckpoint', () => {
  it('restores weights, BN statistics, both Adams (iterations and moments) and the step count', async () => {
    const trained = createTrainer(settings);
    trainSteps(trained, 3);
    const checkpoint = await writeCheckpoint(join(folder, 'run'), trained, settings, 1);
    expect(checkpoint).toBe(join(folder, 'run', 'epoch-0001'));
    expect(readdirSync(join(folder, 'run'))).toEqual(['epoch-0001']); // the partial folder was renamed away
    expect(isResumableCheckpoint(checkpoint)).toBe(true);
    expect(readCheckpointState(checkpoint)).toMatchObject({ format: 1, epoch: 1, globalStep: 3, seed: 1, backend: 'wasm' });

    const restored = createTrainer(settings, { globalStep: 3 });
    await restoreCheckpoint(checkpoint, restored, settings);
    expect(restored.globalStep).toBe(3);
    expect(values(restored.generator.getWeights())).toEqual(values(trained.generator.getWeights()));
    expect(values(restored.discriminator.getWeights())).toEqual(values(trained.discriminator.getWeights()));
    for (const pick of [(t: Trainer) => t.generatorOptimizer, (t: Trainer) => t.discriminatorOptimizer]) {
      const [want, got] = [await optimizerValues(pick(trained)), await optimizerValues(pick(restored))];
      expect(got[0]).toEqual([3]); // Adam's iteration count
      expect(got).toEqual(want);
    }

    // the next step is the same step: same latents (keyed by the global step), same update
    const tensorsBefore = tf.memory().numTensors;
    const [next] = trainSteps(trained, 1, 9);
    const [again] = trainSteps(restored, 1, 9);
    for (const name of Object.keys(next) as Array<keyof typeof next>) expect(again[name]).toBeCloseTo(next[name], 6);
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    trained.dispose();
    restored.dispose();
  });

  it('refuses other settings, a trainer at another step, and a pruned checkpoint; sampling still loads the pruned one', async () => {
    const trainer = createTrainer(settings);
    trainSteps(trainer, 1);
    const checkpoint = await writeCheckpoint(join(folder, 'refuse'), trainer, settings, 1);
    trainer.dispose();

    const wider = { ...settings, model: { ...settings.model, width: 1 / 16 } };
    const other = createTrainer(wider, { globalStep: 1 });
    await expect(restoreCheckpoint(checkpoint, other, wider)).rejects.toThrow(/other model or train settings/);
    other.dispose();
    const early = createTrainer(settings);
    await expect(restoreCheckpoint(checkpoint, early, settings)).rejects.toThrow(/at step 0, the checkpoint at step 1/);
    early.dispose();

    pruneResumeState(checkpoint);
    expect(isResumableCheckpoint(checkpoint)).toBe(false);
    expect(readdirSync(checkpoint).sort()).toEqual(['generator.json', 'generator.weights.bin', 'state.json']);
    const late = createTrainer(settings, { globalStep: 1 });
    await expect(restoreCheckpoint(checkpoint, late, settings)).rejects.toThrow(/not a whole checkpoint/);
    late.dispose();
    const generator = await loadCheckpointGenerator(checkpoint);
    expect(generator.outputs[0].shape).toEqual([null, 32, 32, 3]);
    generator.dispose();
  });

  it('replaces a checkpoint of the same epoch whole, and ignores a partial folder a crash left', async () => {
    const parent = join(folder, 'replace');
    const trainer = createTrainer(settings);
    await writeCheckpoint(parent, trainer, settings, 2);
    // what a process killed while writing leaves behind
    mkdirSync(join(parent, '.epoch-0003.partial-999'));
    writeFileSync(join(parent, '.epoch-0003.partial-999', 'generator.json'), '{');
    trainSteps(trainer, 1);
    await writeCheckpoint(parent, trainer, settings, 2);
    expect(readCheckpointState(join(parent, 'epoch-0002')).globalStep).toBe(1);
    expect(readdirSync(parent).sort()).toEqual(['.epoch-0003.partial-999', 'epoch-0002']);
    expect(existsSync(join(parent, 'epoch-0003'))).toBe(false);
    trainer.dispose();
  });
});
