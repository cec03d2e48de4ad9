import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTrainer, onOwnTape, type Trainer } from './trainer';
import { GpuDropout } from './webgpu/index';
import { randomDataset, tinySettings } from './test-fixtures';

const settings = tinySettings();
const { resolution } = settings.model;
let trainer: Trainer | undefined;

beforeAll(async () => {
  await tf.setBackend('cpu');
});

afterEach(() => {
  trainer?.dispose();
  trainer = undefined;
  vi.restoreAllMocks();
});

function realBatch(seed = 1): tf.Tensor4D {
  return tf.tensor4d(randomDataset(4, resolution, seed).images, [4, resolution, resolution, 3]);
}

function stepOnce(t: Trainer, seed = 1) {
  const batch = realBatch(seed);
  try {
    return t.step(batch);
  } finally {
    batch.dispose();
  }
}

const snapshot = (variables: tf.LayerVariable[]) => variables.map((v) => Array.from(v.read().dataSync()));
const changed = (before: number[][], after: number[][]) => before.some((w, i) => w.some((x, j) => x !== after[i][j]));

describe('createTrainer', () => {
  it('takes a step at width 0.125: finite losses, accuracies in [0, 1], samples of the right shape', () => {
    trainer = createTrainer(tinySettings({}, 0.125));
    const metrics = stepOnce(trainer);
    expect(Object.keys(metrics).sort()).toEqual(['d_acc_fake', 'd_acc_real', 'd_loss_fake', 'd_loss_real', 'g_loss']);
    for (const name of ['d_loss_real', 'd_loss_fake', 'g_loss'] as const) {
      expect(Number.isFinite(metrics[name])).toBe(true);
      expect(metrics[name]).toBeGreaterThan(0);
    }
    for (const name of ['d_acc_real', 'd_acc_fake'] as const) {
      expect(metrics[name]).toBeGreaterThanOrEqual(0);
      expect(metrics[name]).toBeLessThanOrEqual(1);
      expect(metrics[name] * 4).toBe(Math.round(metrics[name] * 4)); // a share of a batch of 4
    }
    const latents = tf.randomNormal([3, settings.model.latentDim]) as tf.Tensor2D;
    const images = trainer.sample(latents);
    expect(images.shape).toEqual([3, resolution, resolution, 3]);
    tf.dispose([latents, images]);
  });

  it('onOwnTape: a minimize() inside leaves nothing on the enclosing tape, which comes back after', () => {
    const state = (tf.engine() as unknown as { state: { activeTape: unknown[] | null; gradientDepth: number } }).state;
    const v = tf.variable(tf.scalar(1));
    const w = tf.variable(tf.scalar(2));
    const optimizer = tf.train.sgd(0.1);
    let tapeBefore = -1;
    let tapeAfter = -1;
    const { value, grads } = tf.variableGrads(() => {
      const y = tf.mul(v, 3);
      tapeBefore = state.activeTape?.length ?? -1;
      // d/dw (w·y)² = 2·w·y² = 36: w becomes 2 − 3.6 = −1.6
      onOwnTape(() => optimizer.minimize(() => tf.square(tf.mul(w, y)) as tf.Scalar, false, [w]));
      tapeAfter = state.activeTape?.length ?? -1;
      return tf.mul(y, w) as tf.Scalar;
    }, [v]);
    expect(tapeBefore).toBeGreaterThan(0);
    expect(tapeAfter).toBe(tapeBefore);
    expect(state.gradientDepth).toBe(0);
    expect(w.dataSync()[0]).toBeCloseTo(-1.6, 5);
    // the outer gradient sees the updated w: d/dv (3v·w) = 3·w
    expect(grads[v.name].dataSync()[0]).toBeCloseTo(-4.8, 5);
    tf.dispose([value, grads[v.name], v, w]);
    optimizer.dispose();
  });

  it('leaks no tensor across steps', () => {
    trainer = createTrainer(settings);
    const counts: number[] = [];
    for (let step = 1; step <= 5; step++) {
      stepOnce(trainer, step);
      counts.push(tf.memory().numTensors);
    }
    // step 1 creates Adam's moment variables; from then on the count is flat
    expect(counts[4]).toBe(counts[1]);
    expect(counts[2]).toBe(counts[1]);
    const before = tf.memory().numTensors;
    trainer.dispose();
    trainer = undefined;
    expect(tf.memory().numTensors).toBeLessThan(before);
  });

  it('the discriminator update changes only D, the generator update only G', () => {
    trainer = createTrainer(settings);
    const { generator, discriminator } = trainer;
    const generatorNames = new Set(generator.trainableWeights.map((w) => (w.read() as tf.Variable).name));
    const discriminatorNames = new Set(discriminator.trainableWeights.map((w) => (w.read() as tf.Variable).name));
    const updates: Array<{ names: string[]; generatorChanged: boolean; discriminatorChanged: boolean }> = [];

    const applyGradients = tf.AdamOptimizer.prototype.applyGradients;
    vi.spyOn(tf.AdamOptimizer.prototype, 'applyGradients').mockImplementation(function (
      this: tf.AdamOptimizer,
      gradients,
    ) {
      const names = Array.isArray(gradients) ? gradients.map((g) => g.name) : Object.keys(gradients);
      const generatorBefore = snapshot(generator.trainableWeights);
      const discriminatorBefore = snapshot(discriminator.trainableWeights);
      applyGradients.call(this, gradients);
      updates.push({
        names,
        generatorChanged: changed(generatorBefore, snapshot(generator.trainableWeights)),
        discriminatorChanged: changed(discriminatorBefore, snapshot(discriminator.trainableWeights)),
      });
    });

    stepOnce(trainer);
    expect(updates).toHaveLength(2);
    const [discriminatorUpdate, generatorUpdate] = updates;
    expect(discriminatorUpdate.names.sort()).toEqual([...discriminatorNames].sort());
    expect(discriminatorUpdate).toMatchObject({ discriminatorChanged: true, generatorChanged: false });
    expect(generatorUpdate.names.sort()).toEqual([...generatorNames].sort());
    expect(generatorUpdate).toMatchObject({ discriminatorChanged: false, generatorChanged: true });
  });

  it('updates the batch-norm moving statistics while training, not while sampling', () => {
    trainer = createTrainer(settings);
    const movingStats = (model: tf.LayersModel) =>
      model.layers
        .filter((layer) => layer.getClassName() === 'FaceganBatchNormalization')
        .flatMap((layer) => layer.nonTrainableWeights.map((w) => Array.from(w.read().dataSync())));
    const generatorStart = movingStats(trainer.generator);
    const discriminatorStart = movingStats(trainer.discriminator);
    expect(generatorStart).toHaveLength(2 * 3); // moving mean and variance of 3 BN layers at 32 px
    expect(generatorStart[0].every((x) => x === 0)).toBe(true);

    const latents = tf.randomNormal([2, settings.model.latentDim]) as tf.Tensor2D;
    tf.dispose(trainer.sample(latents));
    expect(movingStats(trainer.generator)).toEqual(generatorStart);

    stepOnce(trainer);
    const generatorAfter = movingStats(trainer.generator);
    const discriminatorAfter = movingStats(trainer.discriminator);
    generatorAfter.forEach((stat, i) => expect(stat).not.toEqual(generatorStart[i]));
    discriminatorAfter.forEach((stat, i) => expect(stat).not.toEqual(discriminatorStart[i]));

    // inference uses the moving statistics: the samples change with them
    const before = trainer.sample(latents);
    stepOnce(trainer, 2);
    const after = trainer.sample(latents);
    expect(Array.from(after.dataSync())).not.toEqual(Array.from(before.dataSync()));
    tf.dispose([latents, before, after]);
  });

  it('initial weights follow train.seed', () => {
    const weights = (seed: number) => {
      const t = createTrainer(tinySettings({ seed }));
      const all = [...snapshot(t.generator.weights), ...snapshot(t.discriminator.weights)];
      t.dispose();
      return all;
    };
    const first = weights(3);
    expect(weights(3)).toEqual(first);
    expect(weights(4)).not.toEqual(first);
  });

  it('deviceRandom: seeded GpuDropout layers keyed by seed and step, so two such trainers take identical steps; tfjs Dropout without', async () => {
    const dropoutSeeds = (t: Trainer) =>
      t.discriminator.layers.filter((layer) => layer instanceof GpuDropout).map((layer) => (layer as GpuDropout).seed);
    trainer = createTrainer(settings, { deviceRandom: true });
    expect(trainer.deviceRandom).toBe(true);
    const seeds = dropoutSeeds(trainer);
    expect(seeds).toHaveLength(5);
    expect(new Set(seeds).size).toBe(5);
    expect(trainer.discriminator.layers.some((layer) => layer.getClassName() === 'Dropout')).toBe(false);
    // the layers' seeds are the run's; each mask is keyed by the global step too (GpuDropout's step clock), as
    // the latents are: a trainer resumed at step 10 draws other ones at its first step than a fresh trainer
    const later = createTrainer(settings, { deviceRandom: true, globalStep: 10 });
    const same = createTrainer(settings, { deviceRandom: true });
    expect(dropoutSeeds(later)).toEqual(seeds);
    expect(dropoutSeeds(same)).toEqual(seeds);
    // with the same masks and latents, two trainers take the same step, synchronously or not
    const batch = realBatch();
    const first = stepOnce(trainer);
    expect(await same.stepAsync(batch)).toEqual(first);
    expect(await later.stepAsync(batch)).not.toEqual(first);
    batch.dispose();
    later.dispose();
    same.dispose();

    const plain = createTrainer(settings);
    expect(plain.deviceRandom).toBe(false);
    expect(dropoutSeeds(plain)).toEqual([]);
    expect(plain.discriminator.layers.filter((layer) => layer.getClassName() === 'Dropout')).toHaveLength(5);
    plain.dispose();
  });

  it('reports NaN losses once the data is NaN', () => {
    trainer = createTrainer(settings);
    const batch = tf.fill([4, resolution, resolution, 3], NaN) as tf.Tensor4D;
    const metrics = trainer.step(batch);
    batch.dispose();
    expect(metrics.d_loss_real).toBeNaN();
  });
});
