import { beforeAll, describe, expect, it } from 'vitest';
import { laplacianPyramid, pyramidDown, pyramidResolutions, pyramidUp, slicedWassersteinDistance } from './swd';
import { boxBlur, noiseImages, reversed, syntheticScenes, useWasmBackend } from './test-support';

beforeAll(useWasmBackend);

const COUNT = 64;
const real = syntheticScenes(COUNT, 32, 1);
const otherReal = syntheticScenes(COUNT, 32, 2);

describe('slicedWassersteinDistance', () => {
  it('is 0 for identical sets', async () => {
    const same = await slicedWassersteinDistance(real, real);
    expect(same.levels.map((level) => level.resolution)).toEqual([32, 16]);
    for (const level of same.levels) expect(level.distance).toBeCloseTo(0, 6);
    expect(same.mean).toBeCloseTo(0, 6);
  });

  it('grows for a blurred set and more for noise, at every level', async () => {
    // the baseline: another draw of the same distribution (64 images: its 16 px level, colours and layout, varies most)
    const draw = await slicedWassersteinDistance(real, otherReal);
    const blurred = await slicedWassersteinDistance(real, boxBlur(otherReal, 2));
    const noise = await slicedWassersteinDistance(real, noiseImages(COUNT, 32, 3));
    // measured: draw 34 / 77 (mean 55), blurred 96 / 78 (87), noise 310 / 180 (245)
    expect(blurred.mean).toBeGreaterThan(1.4 * draw.mean);
    // blur takes away the finest band: the 32 px level sees it most
    expect(blurred.levels[0].distance).toBeGreaterThan(2 * draw.levels[0].distance);
    expect(noise.mean).toBeGreaterThan(2 * blurred.mean);
    for (const [index, level] of noise.levels.entries()) expect(level.distance).toBeGreaterThan(1.5 * blurred.levels[index].distance);
  });

  it('does not depend on the order of the images, and is seeded', async () => {
    const fake = boxBlur(otherReal, 1);
    const forward = await slicedWassersteinDistance(real, fake, { seed: 5, repeats: 1 });
    const backward = await slicedWassersteinDistance(reversed(real), reversed(fake), { seed: 5, repeats: 1 });
    expect(backward.mean).toBeCloseTo(forward.mean, 3);
    expect(backward.levels.map((l) => l.distance)).toEqual(forward.levels.map((l) => expect.closeTo(l.distance, 3)));
    const again = await slicedWassersteinDistance(real, fake, { seed: 5, repeats: 1 });
    expect(again).toEqual(forward);
    const otherSeed = await slicedWassersteinDistance(real, fake, { seed: 6, repeats: 1 });
    expect(otherSeed.mean).not.toBe(forward.mean);
    expect(otherSeed.mean).toBeCloseTo(forward.mean, -1);
  });

  it('refuses sets it cannot compare', async () => {
    await expect(slicedWassersteinDistance(real, syntheticScenes(COUNT - 1, 32, 4))).rejects.toThrow(/equally large/);
    await expect(slicedWassersteinDistance(real, syntheticScenes(COUNT, 64, 4))).rejects.toThrow(/one shape/);
    const tiny = syntheticScenes(4, 8, 1);
    await expect(slicedWassersteinDistance(tiny, tiny)).rejects.toThrow(/too small/);
  });
});

describe('the pyramid', () => {
  it('has ProGAN levels down to 16 px', () => {
    expect(pyramidResolutions(32)).toEqual([32, 16]);
    expect(pyramidResolutions(64)).toEqual([64, 32, 16]);
    expect(pyramidResolutions(96)).toEqual([96, 48, 24]);
    expect(pyramidResolutions(128)).toEqual([128, 64, 32, 16]);
  });

  it('sends a flat image to the low-pass level and leaves no band-pass energy', () => {
    const flat = { images: new Float32Array(2 * 32 * 32 * 3).fill(0.25), count: 2, resolution: 32, channels: 3 as const };
    const [band, low] = laplacianPyramid(flat, 2);
    expect(band.length).toBe(2 * 32 * 32 * 3);
    expect(low.length).toBe(2 * 16 * 16 * 3);
    for (const value of band) expect(value).toBeCloseTo(0, 6);
    for (const value of low) expect(value).toBeCloseTo(0.25, 6);
  });

  it('blurs with the 5×5 binomial filter before decimating (cv2.pyrDown)', () => {
    const impulse = new Float32Array(8 * 8);
    impulse[2 * 8 + 2] = 1;
    const down = pyramidDown(impulse, 1, 8, 1);
    expect(down.length).toBe(16);
    // output (1, 1) sits on the impulse: centre weight (6/16)²; output (0, 1) is two rows above it, and the mirror
    // edge (row -2 reads row 2) counts the impulse twice: (2/16)(6/16); likewise (0, 0): (2/16)²
    expect(down[1 * 4 + 1]).toBeCloseTo((6 / 16) ** 2, 7);
    expect(down[0 * 4 + 1]).toBeCloseTo((2 / 16) * (6 / 16), 7);
    expect(down[0]).toBeCloseTo((2 / 16) ** 2, 7);
    expect(down[2 * 4 + 2]).toBeCloseTo((1 / 16) ** 2, 7);
    expect(down[3 * 4 + 3]).toBeCloseTo(0, 7);
  });

  it('puts a smooth ramp in the low-pass level and a fine checkerboard in the band-pass level', () => {
    const size = 32;
    const ramp = new Float32Array(size * size).map((_, i) => ((i % size) + 2 * Math.floor(i / size)) / (3 * size) - 0.5);
    const checker = new Float32Array(size * size).map((_, i) => ((i % size) + Math.floor(i / size)) % 2 ? 0.5 : -0.5);
    const [rampBand, rampLow] = laplacianPyramid({ images: ramp, count: 1, resolution: size, channels: 1 }, 2);
    const [checkerBand] = laplacianPyramid({ images: checker, count: 1, resolution: size, channels: 1 }, 2);
    // the binomial filter keeps linear functions and pyrUp interpolates them exactly, away from the mirrored edges
    for (let y = 4; y < size - 4; y++) for (let x = 4; x < size - 4; x++) expect(rampBand[y * size + x]).toBeCloseTo(0, 5);
    expect(rampLow[8 * 16 + 8]).toBeCloseTo(ramp[16 * size + 16], 5);
    const energy = (values: Float32Array) => values.reduce((sum, v) => sum + v * v, 0);
    expect(energy(checkerBand)).toBeGreaterThan(0.95 * energy(checker));
    // the round trip: band + pyrUp(low) is the image
    const [band, low] = laplacianPyramid(syntheticScenes(1, size, 9), 2);
    const upsampled = pyramidUp(low, 1, 16, 3);
    const scene = syntheticScenes(1, size, 9).images;
    for (let i = 0; i < band.length; i++) expect(band[i] + upsampled[i]).toBeCloseTo(scene[i], 5);
  });
});
