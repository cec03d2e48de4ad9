import { describe, expect, it } from 'vitest';
import { imageAt, type ImageSet } from './images';
import { meanPairwiseMsSsim, msSsim, msSsimScales } from './msssim';
import { noiseImages, syntheticScenes, withNoise } from './test-support';

const scenes = syntheticScenes(40, 32, 1);

function repeated(image: Float32Array, count: number, resolution: number): ImageSet {
  const images = new Float32Array(count * image.length);
  for (let i = 0; i < count; i++) images.set(image, i * image.length);
  return { images, count, resolution, channels: 3 };
}

describe('msSsim', () => {
  it('is 1 for identical images, symmetric, and lower the more an image is changed', () => {
    const a = imageAt(scenes, 0);
    expect(msSsim(a, a, 32, 3)).toBeCloseTo(1, 10);
    const noisy = imageAt(withNoise(scenes, 0.05, 2), 0);
    const noisier = imageAt(withNoise(scenes, 0.3, 2), 0);
    const slightly = msSsim(a, noisy, 32, 3);
    expect(msSsim(noisy, a, 32, 3)).toBeCloseTo(slightly, 12);
    expect(slightly).toBeLessThan(1);
    expect(msSsim(a, noisier, 32, 3)).toBeLessThan(slightly - 0.1);
    expect(msSsim(a, imageAt(scenes, 1), 32, 3)).toBeLessThan(slightly);
  });

  it('uses as many scales as the 11 px window allows', () => {
    expect([16, 32, 64, 96, 128, 176, 256].map(msSsimScales)).toEqual([1, 2, 3, 4, 4, 5, 5]);
    expect(msSsimScales(8)).toBe(0);
    expect(() => msSsim(new Float32Array(8 * 8 * 3), new Float32Array(8 * 8 * 3), 8, 3)).toThrow(/at least 11 px/);
  });

  it('works on grey images', () => {
    const grey = noiseImages(2, 16, 1, 1);
    expect(msSsim(imageAt(grey, 0), imageAt(grey, 0), 16, 1)).toBeCloseTo(1, 10);
    expect(msSsim(imageAt(grey, 0), imageAt(grey, 1), 16, 1)).toBeLessThan(0.2);
  });
});

describe('meanPairwiseMsSsim', () => {
  it('is 1 for a collapsed set, far above a varied set', () => {
    const collapsed = meanPairwiseMsSsim(repeated(imageAt(scenes, 3), 40, 32), { pairs: 50 });
    expect(collapsed).toMatchObject({ pairs: 50, scales: 2 });
    expect(collapsed.mean).toBeCloseTo(1, 10);
    // near-collapse: one face with small variations, still far above the varied set
    const nearlyCollapsed = meanPairwiseMsSsim(withNoise(repeated(imageAt(scenes, 3), 40, 32), 0.05, 7), { pairs: 50 });
    const varied = meanPairwiseMsSsim(scenes, { pairs: 50 });
    expect(varied.mean).toBeLessThan(0.5);
    expect(nearlyCollapsed.mean).toBeGreaterThan(varied.mean + 0.3);
  });

  it('is seeded, and never pairs an image with itself', () => {
    const a = meanPairwiseMsSsim(scenes, { pairs: 30, seed: 4 });
    expect(meanPairwiseMsSsim(scenes, { pairs: 30, seed: 4 })).toEqual(a);
    expect(meanPairwiseMsSsim(scenes, { pairs: 30, seed: 5 }).mean).not.toBe(a.mean);
    // two distinct noise images: every pair is of different images, so the mean stays low even with many pairs
    expect(meanPairwiseMsSsim(noiseImages(2, 32, 1), { pairs: 5 }).mean).toBeLessThan(0.2);
    expect(() => meanPairwiseMsSsim(noiseImages(1, 32, 1))).toThrow(/at least 2/);
  });
});
