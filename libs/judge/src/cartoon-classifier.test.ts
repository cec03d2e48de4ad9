import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS } from '@facegan/spec';
import { loadDataset } from '@facegan/data';
import {
  classifyCartoons,
  loadCartoonClassifier,
  loadOrTrainCartoonClassifier,
  saveCartoonClassifier,
  trainCartoonClassifier,
  type CartoonClassifier,
} from './cartoon-classifier';
import { pickImages } from './images';
import { boxBlur, noiseImages, syntheticScenes, useWasmBackend } from './test-support';

let folder: string;
let classifier: CartoonClassifier;
beforeAll(async () => {
  await useWasmBackend();
  folder = await mkdtemp(join(tmpdir(), 'facegan-judge-'));
  // small enough for a test (~20 s on two busy cores, rendering included): the sweeps' classifier trains on 2,000 faces, 12 epochs
  classifier = await trainCartoonClassifier({ resolution: 32, cacheDir: join(folder, 'cache'), trainImages: 800, heldOutImages: 200, epochs: 10 });
}, 120_000);
afterAll(async () => {
  classifier?.dispose();
  await rm(folder, { recursive: true, force: true });
});

describe('the cartoon attribute classifier', () => {
  it('labels held-out cartoon faces right', () => {
    // measured at this size: male 0.99, glasses 0.99, facial hair 0.885, face 0.995; the sweeps' classifier (2,000
    // faces, 12 epochs) gets 0.99, 1, 0.96-0.97 and 0.999
    expect(classifier.info.accuracy.male).toBeGreaterThanOrEqual(0.95);
    expect(classifier.info.accuracy.glasses).toBeGreaterThanOrEqual(0.95);
    expect(classifier.info.accuracy.facialHair).toBeGreaterThanOrEqual(0.85);
    expect(classifier.info.accuracy.face).toBeGreaterThanOrEqual(0.95);
    expect(classifier.info).toMatchObject({ resolution: 32, trainImages: 800, heldOutImages: 200, epochs: 10, backend: 'wasm' });
  });

  it('gives the shares of a set with Wilson intervals, and tells men-only from mixed', async () => {
    const cacheDir = join(folder, 'cache');
    const men = await loadDataset({ ...DEFAULT_SETTINGS.dataset, size: 60, seed: 77, where: { gender: 'male', glasses: false } }, { resolution: 32, cacheDir });
    const menShares = await classifyCartoons(classifier, men);
    expect(menShares.images).toBe(60);
    expect(menShares.faceRate.share).toBeGreaterThanOrEqual(0.95);
    expect(menShares.attributes.male.share).toBeGreaterThanOrEqual(0.95);
    expect(menShares.attributes.male.low).toBeGreaterThan(0.85);
    expect(menShares.attributes.glasses.share).toBeLessThanOrEqual(0.05);
    const { count, share, low, high } = menShares.attributes.male;
    expect(share).toBeCloseTo(count / 60, 10);
    expect(low).toBeLessThan(share);
    expect(high).toBeGreaterThanOrEqual(share);

    const mixed = await loadDataset({ ...DEFAULT_SETTINGS.dataset, size: 60, seed: 78 }, { resolution: 32, cacheDir });
    const trueMen = mixed.items.filter((item) => item.labels.gender === 'male').length;
    const mixedShares = await classifyCartoons(classifier, mixed);
    expect(Math.abs(mixedShares.attributes.male.count - trueMen)).toBeLessThanOrEqual(3);
  });

  it('takes noise, blotches and shuffled faces for no face, and gives no attribute share then', async () => {
    // measured: none of 40 in each set (these are not the training negatives: other seeds, other blur)
    const noise = await classifyCartoons(classifier, noiseImages(40, 32, 3));
    expect(noise.faceRate.count).toBeLessThanOrEqual(1);
    const blotches = await classifyCartoons(classifier, boxBlur(noiseImages(40, 32, 4), 2));
    expect(blotches.faceRate.count).toBeLessThanOrEqual(1);
    const scenes = await classifyCartoons(classifier, syntheticScenes(40, 32, 4));
    expect(scenes.faceRate.count).toBeLessThanOrEqual(1);
    // shares count faces only: with no face, nothing is known
    const one = await classifyCartoons(classifier, noiseImages(1, 32, 3));
    expect(one.faceRate.count).toBe(0);
    expect(one.attributes.male).toMatchObject({ count: 0, faces: 0, low: 0, high: 1 });
    expect(one.attributes.male.share).toBeNaN();
  });

  it('refuses images of another size', async () => {
    const wrong = { images: new Float32Array(2 * 64 * 64 * 3), count: 2, resolution: 64, channels: 3 as const };
    await expect(classifier.predict(wrong)).rejects.toThrow(/32 px/);
  });

  it('is saved and loaded with its accuracy, and predicts the same after', async () => {
    const saved = join(folder, 'cartoon-32');
    await saveCartoonClassifier(classifier, saved);
    const stored = JSON.parse(await readFile(join(saved, 'classifier.json'), 'utf8'));
    expect(stored.info.accuracy).toEqual(classifier.info.accuracy);
    const loaded = await loadCartoonClassifier(saved);
    expect(loaded?.info).toEqual(classifier.info);
    const sample = pickImages(
      await loadDataset({ ...DEFAULT_SETTINGS.dataset, size: 8, seed: 5 }, { resolution: 32, cacheDir: join(folder, 'cache') }),
      [0, 1, 2, 3, 4, 5, 6, 7],
    );
    const before = await classifier.predict(sample);
    const after = await loaded!.predict(sample);
    for (const attribute of ['male', 'glasses', 'facialHair', 'face'] as const) {
      expect(Array.from(after[attribute])).toEqual(Array.from(before[attribute]).map((p) => expect.closeTo(p, 5)));
    }
    // a saved classifier is reused, not trained again (training would take seconds and change trainedAt)
    const reused = await loadOrTrainCartoonClassifier(saved, { resolution: 32, cacheDir: join(folder, 'cache') });
    expect(reused.info.trainedAt).toBe(classifier.info.trainedAt);
    reused.dispose();
    loaded!.dispose();
  });

  it('has nothing to load from an empty folder or one of another format', async () => {
    expect(await loadCartoonClassifier(join(folder, 'nothing-here'))).toBeUndefined();
    const other = join(folder, 'other');
    await saveCartoonClassifier(classifier, other);
    const stored = JSON.parse(await readFile(join(other, 'classifier.json'), 'utf8'));
    await writeFile(join(other, 'classifier.json'), JSON.stringify({ ...stored, version: 0 }));
    expect(await loadCartoonClassifier(other)).toBeUndefined();
  });
});
