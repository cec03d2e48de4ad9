import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatasetSettings } from '@facegan/spec';
import { cartoonLabels } from './cartoon';
import { encodeGridPng, loadDataset } from './index';

let cacheDir: string;
beforeAll(async () => {
  cacheDir = await mkdtemp(join(tmpdir(), 'facegan-data-'));
});
afterAll(async () => {
  await rm(cacheDir, { recursive: true, force: true });
});

const settings: DatasetSettings = { source: 'cartoon', size: 24, where: {}, seed: 11 };

describe('loadDataset', () => {
  it('renders, caches and preprocesses the subset to NHWC in [-1, 1]', async () => {
    const progress: number[] = [];
    const dataset = await loadDataset(settings, { resolution: 64, cacheDir, onProgress: (done, total) => progress.push(done / total) });

    expect(dataset).toMatchObject({ resolution: 64, channels: 3, count: 24 });
    expect(dataset.images).toBeInstanceOf(Float32Array);
    expect(dataset.images.length).toBe(24 * 64 * 64 * 3);
    let min = Infinity;
    let max = -Infinity;
    for (const value of dataset.images) {
      min = Math.min(min, value);
      max = Math.max(max, value);
    }
    expect(min).toBe(-1); // black outlines
    expect(max).toBeLessThanOrEqual(1);
    expect(max).toBeGreaterThan(0.8); // light backgrounds
    expect(progress).toHaveLength(24);
    expect(progress.at(-1)).toBe(1);
    expect(dataset.cache).toMatchObject({ rendered: 24, reused: 0 });

    const ids = dataset.items.map((item) => item.id);
    expect(new Set(ids).size).toBe(24);
    for (const item of dataset.items) {
      expect(item.id).toMatch(/^cartoon:\d{6}$/);
      expect(item.labels).toEqual(cartoonLabels(Number(item.id.slice('cartoon:'.length))));
    }
    expect(dataset.summary).toMatchObject({ source: 'cartoon', size: 24, where: {}, seed: 11 });
    expect(dataset.summary.itemsHash).toBe(createHash('sha256').update(ids.join('\n')).digest('hex'));
    const { counts } = dataset.summary;
    expect(Object.keys(counts)).toEqual(['gender', 'glasses', 'facialHair', 'hat', 'skinTone', 'hairColor']);
    expect(Object.keys(counts.hairColor)).toEqual(['black', 'brown', 'blonde', 'red', 'gray']);
    for (const values of Object.values(counts)) expect(Object.values(values).reduce((a, b) => a + b)).toBe(24);
    expect(counts.gender.male).toBe(dataset.items.filter((item) => item.labels.gender === 'male').length);

    // Cache layout: one 128 px PNG per face, written atomically (no temporary files left), plus a labels index.
    const folder = join(cacheDir, 'cartoon', 'v1');
    const files = await readdir(folder);
    expect(files.filter((file) => file.endsWith('.png'))).toHaveLength(24);
    expect(files.some((file) => file.endsWith('.tmp'))).toBe(false);
    const first = Number(ids[0].slice('cartoon:'.length));
    const meta = await sharp(join(folder, `${String(first).padStart(6, '0')}.png`)).metadata();
    expect([meta.width, meta.height, meta.channels]).toEqual([128, 128, 3]);
    const index = JSON.parse(await readFile(join(folder, 'labels.json'), 'utf8'));
    expect(index.faces[String(first)]).toEqual(dataset.items[0].labels);
  });

  it('reuses the cache: the second load renders nothing and gives the same data', async () => {
    const first = await loadDataset(settings, { resolution: 64, cacheDir });
    const second = await loadDataset(settings, { resolution: 64, cacheDir });
    expect(first.cache).toMatchObject({ rendered: 0, reused: 24 });
    expect(second.cache.rendered).toBe(0);
    expect(second.items).toEqual(first.items);
    expect(second.summary).toEqual(first.summary);
    expect(Buffer.from(second.images.buffer).equals(Buffer.from(first.images.buffer))).toBe(true);
  });

  it('is safe when two loads fill the same cache at once', async () => {
    const concurrent = { ...settings, size: 12, seed: 99, where: { gender: 'female' as const } };
    const [a, b] = await Promise.all([loadDataset(concurrent, { resolution: 32, cacheDir }), loadDataset(concurrent, { resolution: 32, cacheDir })]);
    expect(a.items).toEqual(b.items);
    expect(Buffer.from(a.images.buffer).equals(Buffer.from(b.images.buffer))).toBe(true);
    expect(a.items.every((item) => item.labels.gender === 'female')).toBe(true);
    expect((await readdir(join(cacheDir, 'cartoon', 'v1'))).some((file) => file.endsWith('.tmp'))).toBe(false);
  });

  it('renders a larger base size for resolutions above 128', async () => {
    const dataset = await loadDataset({ ...settings, size: 2 }, { resolution: 160, cacheDir });
    expect(dataset.images.length).toBe(2 * 160 * 160 * 3);
    expect(dataset.cache.folder).toBe(join(cacheDir, 'cartoon', 'v1', '256px'));
    expect(dataset.cache.rendered).toBe(2);
  });

  it('rejects unknown sources and unsatisfiable filters', async () => {
    await expect(loadDataset({ ...settings, source: 'celeba' as 'cartoon' }, { resolution: 32, cacheDir })).rejects.toThrow(/unknown dataset source/);
    await expect(
      loadDataset({ ...settings, where: { gender: 'female', facialHair: true } }, { resolution: 32, cacheDir }),
    ).rejects.toThrow(/only 0 of the first 50000 faces match/);
  });

  it('gives images a trainer can show back as a grid', async () => {
    const dataset = await loadDataset(settings, { resolution: 64, cacheDir });
    const png = await encodeGridPng(dataset.images, { count: dataset.count, resolution: 64, channels: 3, rows: 4, cols: 7 });
    const meta = await sharp(png).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 7 * 64 + 6 * 2, 4 * 64 + 3 * 2]);
  });
});
