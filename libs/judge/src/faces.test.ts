import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '@facegan/data';
import { DEFAULT_SETTINGS } from '@facegan/spec';
import { createFaceJudge, faceShares, measureFaceJudge, type FaceJudge } from './faces';
import { noiseImages, useWasmBackend } from './test-support';

/** The shared sample of real photos, outside the repository (never copied into it). */
const UTKFACE_SAMPLE = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', 'shared', 'data', 'utkface-2000');

let judge: FaceJudge;
let cacheDir: string;
beforeAll(async () => {
  await useWasmBackend();
  judge = await createFaceJudge();
  cacheDir = await mkdtemp(join(tmpdir(), 'facegan-judge-faces-'));
});
afterAll(async () => {
  await rm(cacheDir, { recursive: true, force: true });
});

describe('the face judge', () => {
  it('finds no face in noise', async () => {
    const shares = faceShares(await judge.judge(noiseImages(40, 64, 11)));
    expect(shares.faceRate.count).toBe(0);
    expect(shares.faceRate.high).toBeLessThan(0.1);
    // no face, no gender: the share of men is unknown, not 0 or 1
    expect(shares.male.faces).toBe(0);
    expect(shares.male.share).toBeNaN();
  });

  it.skipIf(!existsSync(UTKFACE_SAMPLE))('finds faces and reads gender on real photos at 64 px (shared UTKFace sample)', async () => {
    const photos = await loadDataset(
      { ...DEFAULT_SETTINGS.dataset, source: 'utkface', path: UTKFACE_SAMPLE, size: 200, seed: 1 },
      { resolution: 64, cacheDir },
    );
    const accuracy = await measureFaceJudge(judge, photos);
    // measured on this sample (children included, whose gender is hardest): faces 197/200, gender right on 92.9%;
    // on the adults alone 99%
    expect(accuracy.photos).toBe(200);
    expect(accuracy.faceRate.share).toBeGreaterThanOrEqual(0.9);
    expect(accuracy.genderAccuracy.share).toBeGreaterThanOrEqual(0.85);
    expect(accuracy.genderAccuracy.faces).toBe(accuracy.faceRate.count);
  }, 120_000);
});

describe('faceShares', () => {
  it('counts men among detected faces only', () => {
    const shares = faceShares([
      { face: true, confidence: 0.9, male: 0.8 },
      { face: true, confidence: 0.7, male: 0.3 },
      { face: true, confidence: 0.6, male: 0.9 },
      { face: false, confidence: 0 },
    ]);
    expect(shares.images).toBe(4);
    expect(shares.faceRate).toMatchObject({ count: 3, share: 0.75 });
    expect(shares.male).toMatchObject({ count: 2, faces: 3 });
    expect(shares.male.share).toBeCloseTo(2 / 3, 10);
    expect(shares.male.low).toBeLessThan(2 / 3);
    expect(shares.male.high).toBeGreaterThan(2 / 3);
  });
});
