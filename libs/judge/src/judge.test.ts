import { beforeAll, describe, expect, it } from 'vitest';
import type { CartoonClassifier } from './cartoon-classifier';
import type { FaceJudge } from './faces';
import { imageAt, type ImageSet } from './images';
import { judgeGenerated } from './judge';
import { noiseImages, syntheticScenes, useWasmBackend } from './test-support';

beforeAll(useWasmBackend);

const FAST = { swd: { patchesPerImage: 32, repeats: 1 }, msssimPairs: 40 };

/** Mean brightness of an image in [-1, 1]. */
const brightness = (set: ImageSet, index: number) => imageAt(set, index).reduce((sum, v) => sum + v, 0) / imageAt(set, index).length;

/** Mean absolute step between neighbouring pixels: near 0.67 for uniform noise, small for flat scenes. */
function roughness(set: ImageSet, index: number): number {
  const image = imageAt(set, index);
  let jumps = 0;
  for (let p = set.channels; p < image.length; p += set.channels) jumps += Math.abs(image[p] - image[p - set.channels]);
  return jumps / (image.length / set.channels);
}

/** A stand-in classifier: a face unless the image is noise; "male" when brighter than mid-grey; never glasses; facial hair always. */
function brightnessClassifier(): CartoonClassifier & { calls: number[] } {
  const calls: number[] = [];
  return {
    calls,
    info: {
      resolution: 32,
      accuracy: { male: 0.99, glasses: 0.98, facialHair: 0.97, face: 0.995 },
      trainImages: 10,
      heldOutImages: 10,
      epochs: 1,
      seed: 1,
      dataset: { size: 20, seed: 1 },
      trainedAt: '2026-01-01T00:00:00.000Z',
      trainSeconds: 1,
      backend: 'wasm',
    },
    async predict(images) {
      calls.push(images.count);
      const male = Float32Array.from({ length: images.count }, (_, i) => (brightness(images, i) > 0 ? 0.9 : 0.1));
      const face = Float32Array.from({ length: images.count }, (_, i) => (roughness(images, i) < 0.3 ? 0.9 : 0.1));
      return { male, glasses: new Float32Array(images.count), facialHair: new Float32Array(images.count).fill(1), face };
    },
    dispose() {},
  };
}

/** A stand-in face judge: a face wherever the image is not noise-like, a man when it is bright. */
function brightnessFaceJudge(): FaceJudge & { calls: number[] } {
  const calls: number[] = [];
  return {
    calls,
    async judge(images) {
      calls.push(images.count);
      return Array.from({ length: images.count }, (_, i) => {
        const face = roughness(images, i) < 0.3;
        return face ? { face, confidence: 0.9, male: brightness(images, i) > 0 ? 0.8 : 0.2 } : { face, confidence: 0 };
      });
    },
  };
}

describe('judgeGenerated', () => {
  const real = syntheticScenes(48, 32, 1);

  it('measures cartoon samples: SWD per level, diversity, attribute shares with intervals', async () => {
    const classifier = brightnessClassifier();
    const generated = syntheticScenes(40, 32, 2);
    const metrics = await judgeGenerated({ generated, real, source: 'cartoon', cartoonClassifier: classifier, ...FAST });
    const expectedMale = Array.from({ length: 40 }, (_, i) => brightness(generated, i) > 0).filter(Boolean).length / 40;
    expect(metrics).toMatchObject({
      judged_images: 40,
      msssim_scales: 2,
      share_male: expectedMale,
      share_glasses: 0,
      share_glasses_low: 0,
      share_facial_hair: 1,
      share_facial_hair_high: 1,
      judge_acc_male: 0.99,
      judge_acc_glasses: 0.98,
      judge_acc_facial_hair: 0.97,
      judge_acc_face: 0.995,
      face_rate: 1,
      faces: 40,
      face_rate_real: 1,
    });
    expect(Object.keys(metrics).filter((name) => name.startsWith('swd_')).sort()).toEqual(['swd_16', 'swd_32', 'swd_mean']);
    expect(metrics.swd_mean).toBeCloseTo((metrics.swd_16 + metrics.swd_32) / 2, 10);
    expect(metrics.share_male_low).toBeLessThan(expectedMale);
    expect(metrics.share_male_high).toBeGreaterThan(expectedMale);
    expect(metrics.share_glasses_high).toBeGreaterThan(0.05);
    for (const name of ['msssim_fake', 'msssim_real', 'share_male_real', 'share_glasses_real', 'share_facial_hair_real']) {
      expect(metrics[name]).toBeGreaterThanOrEqual(0);
      expect(metrics[name]).toBeLessThanOrEqual(1);
    }
  });

  it('tells a collapsed or noisy generator from a good one', async () => {
    const classifier = brightnessClassifier();
    const good = await judgeGenerated({ generated: syntheticScenes(40, 32, 2), real, source: 'cartoon', cartoonClassifier: classifier, ...FAST });
    const one = imageAt(syntheticScenes(1, 32, 3), 0);
    const collapsedImages = new Float32Array(40 * one.length);
    for (let i = 0; i < 40; i++) collapsedImages.set(one, i * one.length);
    const collapsed = await judgeGenerated({
      generated: { images: collapsedImages, count: 40, resolution: 32, channels: 3 },
      real,
      source: 'cartoon',
      cartoonClassifier: classifier,
      ...FAST,
    });
    const noise = await judgeGenerated({ generated: noiseImages(40, 32, 4), real, source: 'cartoon', cartoonClassifier: classifier, ...FAST });
    // noise is no face: no attribute share to give
    expect(noise).toMatchObject({ face_rate: 0, faces: 0, share_male_low: 0, share_male_high: 1 });
    expect(noise.share_male).toBeNaN();
    expect(collapsed.msssim_fake).toBeCloseTo(1, 6);
    expect(good.msssim_fake).toBeLessThan(collapsed.msssim_fake - 0.3);
    expect(Math.abs(good.msssim_fake - good.msssim_real)).toBeLessThan(0.15);
    expect(noise.swd_mean).toBeGreaterThan(2 * good.swd_mean);
    expect(collapsed.swd_mean).toBeGreaterThan(good.swd_mean);
  });

  it('computes what depends on the real images once per real set', async () => {
    const classifier = brightnessClassifier();
    const realSet = syntheticScenes(48, 32, 5);
    await judgeGenerated({ generated: syntheticScenes(40, 32, 6), real: realSet, source: 'cartoon', cartoonClassifier: classifier, ...FAST });
    await judgeGenerated({ generated: syntheticScenes(40, 32, 7), real: realSet, source: 'cartoon', cartoonClassifier: classifier, ...FAST });
    // two generated sets and the real subset, classified once
    expect(classifier.calls).toEqual([40, 40, 40]);
  });

  it('measures photo samples with the face judge, and calibrates it on labelled training images', async () => {
    const faceJudge = brightnessFaceJudge();
    const labelled = {
      ...real,
      items: Array.from({ length: real.count }, (_, i) => ({ labels: { gender: i % 2 ? 'male' : 'female' } })),
    };
    const half = syntheticScenes(20, 32, 8);
    const generated = {
      images: Float32Array.from([...half.images, ...noiseImages(20, 32, 9).images]),
      count: 40,
      resolution: 32,
      channels: 3 as const,
    };
    const metrics = await judgeGenerated({ generated, real: labelled, source: 'utkface', faceJudge, ...FAST });
    const expectedMen = Array.from({ length: 20 }, (_, i) => brightness(half, i) > 0).filter(Boolean).length;
    expect(metrics.face_rate).toBe(0.5);
    expect(metrics.faces).toBe(20);
    expect(metrics.share_male).toBeCloseTo(expectedMen / 20, 10);
    expect(metrics.face_rate_real).toBe(1);
    expect(metrics.face_rate_low).toBeLessThan(0.5);
    // the stand-in reads brightness, not gender: near chance on these labels
    expect(metrics.judge_gender_acc).toBeGreaterThan(0);
    expect(metrics.judge_gender_acc).toBeLessThan(1);
    expect(metrics.judge_gender_acc_high).toBeGreaterThan(metrics.judge_gender_acc_low);
    expect(Object.keys(metrics).some((name) => name.startsWith('share_glasses'))).toBe(false);
    expect(faceJudge.calls).toEqual([40, 40]);
  });

  it('leaves out face metrics without a face judge, and needs the classifier for cartoons', async () => {
    const metrics = await judgeGenerated({ generated: syntheticScenes(20, 32, 2), real, source: 'celeba', ...FAST });
    expect(Object.keys(metrics).some((name) => name.startsWith('face_') || name.startsWith('share_'))).toBe(false);
    await expect(judgeGenerated({ generated: syntheticScenes(20, 32, 2), real, source: 'cartoon', ...FAST })).rejects.toThrow(/classifier/);
    await expect(judgeGenerated({ generated: syntheticScenes(1, 32, 2), real, source: 'celeba' })).rejects.toThrow(/at least 2/);
  });
});
