import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS, type DatasetSettings } from '@facegan/spec';
import { folderWith, pictureJpeg, solidPng, UTKFACE_SAMPLE } from '../test/fixtures';
import { CARTOON_VERSION, cartoonLabels } from './cartoon';
import { encodeGridPng, encodePreviewPng, loadDataset } from './index';

let cacheDir: string;
const folders: string[] = [];
beforeAll(async () => {
  cacheDir = await mkdtemp(join(tmpdir(), 'facegan-data-'));
});
afterAll(async () => {
  await Promise.all([cacheDir, ...folders].map((folder) => rm(folder, { recursive: true, force: true })));
});
async function fixture(files: Record<string, Buffer | string>): Promise<string> {
  const root = await folderWith(files);
  folders.push(root);
  return root;
}

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');
const CARTOON: DatasetSettings = { ...DEFAULT_SETTINGS.dataset, size: 24, seed: 11 };
const imageOf = (images: Float32Array, index: number, length: number) => images.subarray(index * length, (index + 1) * length);

async function listFiles(folder: string): Promise<string[]> {
  return (await readdir(folder, { recursive: true })).map(String);
}

describe('loadDataset on cartoon faces', () => {
  it('prepares the subset as NHWC in [-1, 1] and says what it trained on', async () => {
    const progress: number[] = [];
    const dataset = await loadDataset(CARTOON, { resolution: 64, cacheDir, onProgress: (done, total) => progress.push(done / total) });

    expect(dataset).toMatchObject({ resolution: 64, channels: 3, count: 24 });
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
    expect(dataset.cache).toMatchObject({ prepared: 24, reused: 0 });

    const ids = dataset.items.map((item) => item.id);
    expect(new Set(ids).size).toBe(24);
    for (const item of dataset.items) {
      expect(item.id).toMatch(/^cartoon:\d{6}$/);
      expect(item.labels).toEqual(cartoonLabels(Number(item.id.slice('cartoon:'.length))));
    }
    const { summary } = dataset;
    expect(summary).toMatchObject({ source: 'cartoon', size: 24, images: 24, where: {}, seed: 11, channels: 3, crop: 'center', flip: false, skipped: [] });
    expect(summary.path).toBeUndefined();
    expect(summary.files).toEqual(ids);
    expect(summary.parts).toEqual([{ where: {}, matched: 2000, taken: 24 }]);
    expect(summary.itemsHash).toBe(sha256(ids.map((id) => `${id} cartoon-${CARTOON_VERSION}`).join('\n')));
    expect(Object.keys(summary.counts)).toEqual(['gender', 'glasses', 'facialHair', 'hat', 'skinTone', 'hairColor', 'background']);
    for (const values of Object.values(summary.counts)) expect(Object.values(values).reduce((a, b) => a + b)).toBe(24);
    expect(summary.counts.gender.male).toBe(dataset.items.filter((item) => item.labels.gender === 'male').length);
    expect(JSON.parse(JSON.stringify(summary))).toEqual(summary);

    const files = await listFiles(dataset.cache.folder);
    expect(dataset.cache.folder).toBe(join(cacheDir, 'prepared', 'p1', '64px-3ch-center'));
    expect(files.filter((file) => /^[0-9a-f]{2}\/[0-9a-f]{64}$/.test(file))).toHaveLength(24);
    expect(files.some((file) => file.endsWith('.tmp'))).toBe(false);
  });

  it('reuses the cache: the second load decodes nothing and gives the same data', async () => {
    const first = await loadDataset(CARTOON, { resolution: 64, cacheDir });
    const second = await loadDataset(CARTOON, { resolution: 64, cacheDir });
    expect(first.cache).toMatchObject({ prepared: 0, reused: 24 });
    expect(second.cache.prepared).toBe(0);
    expect(second.items).toEqual(first.items);
    expect(second.summary).toEqual(first.summary);
    expect(Buffer.from(second.images.buffer).equals(Buffer.from(first.images.buffer))).toBe(true);
  });

  it('is safe when two loads fill the same cache at once', async () => {
    const settings: DatasetSettings = { ...CARTOON, size: 12, seed: 99, where: { gender: 'female' } };
    const [a, b] = await Promise.all([loadDataset(settings, { resolution: 32, cacheDir }), loadDataset(settings, { resolution: 32, cacheDir })]);
    expect(a.items).toEqual(b.items);
    expect(Buffer.from(a.images.buffer).equals(Buffer.from(b.images.buffer))).toBe(true);
    expect(a.items.every((item) => item.labels.gender === 'female')).toBe(true);
    expect((await listFiles(a.cache.folder)).some((file) => file.endsWith('.tmp'))).toBe(false);
    expect((await loadDataset(settings, { resolution: 32, cacheDir })).cache.prepared).toBe(0);
  });

  it('renders at a larger size for resolutions above 128', async () => {
    const dataset = await loadDataset({ ...CARTOON, size: 2 }, { resolution: 160, cacheDir });
    expect(dataset.images.length).toBe(2 * 160 * 160 * 3);
    expect(dataset.cache).toMatchObject({ folder: join(cacheDir, 'prepared', 'p1', '160px-3ch-center'), prepared: 2 });
  });

  it('composes exact counts per part, in part order', async () => {
    const compose = { parts: [{ where: { glasses: true }, share: 0.9 }, { where: { glasses: false }, share: 0.1 }] };
    const dataset = await loadDataset({ ...CARTOON, size: 20, where: { gender: 'female' }, compose }, { resolution: 32, cacheDir });
    expect(dataset.items.map((item) => item.labels.glasses)).toEqual([...Array(18).fill(true), false, false]);
    expect(dataset.items.every((item) => item.labels.gender === 'female')).toBe(true);
    expect(dataset.summary.counts.glasses).toEqual({ true: 18, false: 2 });
    expect(dataset.summary.parts).toEqual([
      { where: { gender: 'female', glasses: true }, matched: 2000, taken: 18 },
      { where: { gender: 'female', glasses: false }, matched: 2000, taken: 2 },
    ]);
    expect(dataset.summary.compose).toEqual(compose);
  });

  it('says how many images matched each part when there are too few, before decoding anything', async () => {
    const compose = { parts: [{ where: { hat: true }, count: 3 }, { where: { facialHair: true }, count: 2 }] };
    const error = await loadDataset({ ...CARTOON, size: 5, where: { gender: 'female' }, compose }, { resolution: 32, cacheDir }).catch((thrown: Error) => thrown);
    expect((error as Error).message.split('\n')).toEqual([
      'not enough images in the cartoon faces:',
      '  part 0 where {"gender":"female","hat":true}: 2000 matched of the first ' + (error as Error).message.match(/first (\d+) faces/)?.[1] + ' faces, 3 asked (enough)',
      '  part 1 where {"gender":"female","facialHair":true}: 0 matched of the first 50000 faces, 2 asked (too few)',
      'loosen the filter or lower the size',
    ]);
  });

  it('gives one grayscale channel, and mirrored copies after the originals with flip', async () => {
    const dataset = await loadDataset({ ...CARTOON, size: 3, channels: 1, flip: true }, { resolution: 32, cacheDir });
    const length = 32 * 32;
    expect(dataset).toMatchObject({ channels: 1, count: 6 });
    expect(dataset.images.length).toBe(6 * length);
    expect(dataset.items.slice(3)).toEqual(dataset.items.slice(0, 3).map((item) => ({ ...item, flipped: true })));
    expect(dataset.summary).toMatchObject({ size: 3, images: 6, flip: true, channels: 1 });
    expect(dataset.summary.files).toHaveLength(3);
    const original = imageOf(dataset.images, 1, length);
    const mirrored = imageOf(dataset.images, 4, length);
    for (const [x, y] of [[0, 0], [5, 17], [31, 30]]) expect(mirrored[y * 32 + (31 - x)]).toBe(original[y * 32 + x]);
    expect([...mirrored]).not.toEqual([...original]);
  });

  it('rejects unknown sources and labels the source does not have', async () => {
    await expect(loadDataset({ ...CARTOON, source: 'flickr' as 'cartoon' }, { resolution: 32, cacheDir })).rejects.toThrow(/unknown dataset source "flickr"/);
    await expect(loadDataset({ ...CARTOON, where: { race: 'asian' } }, { resolution: 32, cacheDir })).rejects.toThrow(
      'the cartoon faces has no label "race" (labels: gender, glasses, facialHair, hat, skinTone, hairColor, background)',
    );
  });

  it('gives images a trainer can show back as a grid, and a preview of raw and prepared images', async () => {
    const dataset = await loadDataset(CARTOON, { resolution: 64, cacheDir });
    const grid = await sharp(await encodeGridPng(dataset.images, { count: dataset.count, resolution: 64, channels: 3, rows: 4, cols: 7 })).metadata();
    expect([grid.format, grid.width, grid.height]).toEqual(['png', 7 * 64 + 6 * 2, 4 * 64 + 3 * 2]);
    const preview = await sharp(await encodePreviewPng(dataset, { count: 10, columns: 5, tile: 48 })).metadata();
    expect([preview.width, preview.height]).toEqual([5 * 48 + 4 * 2, 4 * 48 + 3 * 2]);
  });
});

/** UTKFace-named files: 6 good men, 6 good women, and men whose files are bad in every way a file can be. */
async function utkFixture(): Promise<{ root: string; bad: Record<string, RegExp> }> {
  const files: Record<string, Buffer | string> = {};
  for (let index = 0; index < 12; index++) {
    const gender = index % 2;
    files[`${20 + index * 3}_${gender}_${index % 5}_2017010100000${String(index).padStart(4, '0')}.jpg.chip.jpg`] = await pictureJpeg(80, 80, index);
  }
  const truncated = await pictureJpeg(200, 200, 50);
  const bad = {
    '30_0_0_20170102000000001.jpg.chip.jpg': /^empty file$/,
    '31_0_0_20170102000000002.jpg.chip.jpg': /^not an image/,
    '32_0_0_20170102000000003.jpg.chip.jpg': /^truncated \(no JPEG end marker\)$/,
    '33_0_0_20170102000000004.jpg.chip.jpg': /^tiny/,
    '35_0_20170102000000005.jpg.chip.jpg': /^file name does not parse as age_gender_race_date: 3 fields/,
  };
  files['30_0_0_20170102000000001.jpg.chip.jpg'] = '';
  files['31_0_0_20170102000000002.jpg.chip.jpg'] = 'this is a text file';
  files['32_0_0_20170102000000003.jpg.chip.jpg'] = truncated.subarray(0, truncated.length / 2);
  files['33_0_0_20170102000000004.jpg.chip.jpg'] = await solidPng(16, 16, { r: 1, g: 2, b: 3, alpha: 1 });
  files['35_0_20170102000000005.jpg.chip.jpg'] = await pictureJpeg(80, 80, 99);
  return { root: await fixture(files), bad };
}

describe('loadDataset on photo folders', () => {
  it('skips bad files with their reasons, replaces them, and caches the verdicts too', async () => {
    const { root, bad } = await utkFixture();
    const settings: DatasetSettings = { ...DEFAULT_SETTINGS.dataset, source: 'utkface', path: root, size: 6, where: { gender: 'male' } };
    const dataset = await loadDataset(settings, { resolution: 32, cacheDir });
    expect(dataset.count).toBe(6);
    expect(dataset.items.every((item) => item.labels.gender === 'male' && !Object.keys(bad).includes(item.id))).toBe(true);
    const { summary } = dataset;
    expect(summary.path).toBe(root);
    // The name that does not parse is always reported; the bad files only when the seeded order reached them.
    expect(summary.skipped[0].file).toBe('35_0_20170102000000005.jpg.chip.jpg');
    for (const { file, reason } of summary.skipped) expect(reason).toMatch(bad[file]);
    const { prepared } = dataset.cache;
    expect(summary.skipped.length - 1).toBe(prepared - 6);
    expect(summary.parts).toEqual([{ where: { gender: 'male' }, matched: 10, taken: 6 }]);
    expect(summary.counts.gender).toEqual({ male: 6, female: 0 });
    expect(Object.values(summary.counts.age).reduce((a, b) => a + b)).toBe(6);
    const hashes = await Promise.all(summary.files.map(async (file) => sha256(await readFile(join(root, file)))));
    expect(summary.itemsHash).toBe(sha256(summary.files.map((file, index) => `${file} ${hashes[index]}`).join('\n')));
    expect(dataset.cache.reused).toBe(0);

    const again = await loadDataset(settings, { resolution: 32, cacheDir });
    expect(again.cache).toEqual(expect.objectContaining({ prepared: 0, reused: prepared }));
    expect(again.summary).toEqual(summary);

    // Asking for one more man than there are good ones tries every file: each bad kind is met and named.
    const error = await loadDataset({ ...settings, size: 7 }, { resolution: 32, cacheDir }).catch((thrown: Error) => thrown);
    const message = (error as Error).message;
    expect(message).toMatch(new RegExp(`^not enough usable images in utkface ${root}: 7 asked where \\{"gender":"male"\\}, 10 matched of 16 images, 4 unusable \\(.*\\); loosen the filter or lower the size$`));
    for (const [file, reason] of Object.entries(bad).slice(0, 4)) expect(message).toMatch(new RegExp(`${file}: ${reason.source.slice(1).replace(/\$$/, '')}`));
  });

  it('filters by an age range, and resolves a relative path against baseDir', async () => {
    const { root } = await utkFixture();
    // The women are 23, 29, 35, 41, 47 and 53.
    const settings: DatasetSettings = { ...DEFAULT_SETTINGS.dataset, source: 'utkface', path: basename(root), size: 4, where: { gender: 'female', age: { min: 25, max: 50 } } };
    const dataset = await loadDataset(settings, { resolution: 32, cacheDir, baseDir: dirname(root) });
    expect(dataset.items.map((item) => item.labels.age).sort()).toEqual([29, 35, 41, 47]);
    await expect(loadDataset(settings, { resolution: 32, cacheDir, baseDir: cacheDir })).rejects.toThrow(/does not exist/);
  });

  it('keys the cache by content, resolution, channels and crop', async () => {
    const jpeg = (seed: number) => pictureJpeg(64, 64, seed);
    const root = await fixture({ 'a.jpg': await jpeg(1), 'b.jpg': await jpeg(2) });
    const settings: DatasetSettings = { ...DEFAULT_SETTINGS.dataset, source: 'folder', path: root, size: 2 };
    const load = (extra: Partial<DatasetSettings> = {}, resolution = 32) => loadDataset({ ...settings, ...extra }, { resolution, cacheDir });
    const before = await load();
    expect(before.cache.prepared).toBe(2);
    expect((await load()).cache.prepared).toBe(0);
    expect((await load({ channels: 1 })).cache.prepared).toBe(2);
    expect((await load({}, 64)).cache.prepared).toBe(2);

    await writeFile(join(root, 'b.jpg'), await jpeg(3)); // same name, other bytes
    const changed = await load();
    expect(changed.cache).toEqual(expect.objectContaining({ prepared: 1, reused: 1 }));
    expect(changed.summary.files).toEqual(before.summary.files);
    expect(changed.summary.itemsHash).not.toBe(before.summary.itemsHash);

    await copyFile(join(root, 'a.jpg'), join(root, 'c.jpg')); // same bytes, another name
    expect((await load({ size: 3 })).cache).toEqual(expect.objectContaining({ prepared: 0, reused: 3 }));
  });

  it('crops around face boxes, and skips images without one', async () => {
    const red = await sharp({ create: { width: 60, height: 60, channels: 3, background: '#ff0000' } }).png().toBuffer();
    const picture = await sharp({ create: { width: 200, height: 100, channels: 3, background: '#0000ff' } })
      .composite([{ input: red, left: 120, top: 20 }])
      .png()
      .toBuffer();
    const root = await fixture({
      'boxed.png': picture,
      'unboxed.png': picture,
      'labels.csv': 'file,face_x,face_y,face_width,face_height\nboxed.png,125,25,50,50\nunboxed.png,,,,\n',
    });
    const settings: DatasetSettings = { ...DEFAULT_SETTINGS.dataset, source: 'folder', path: root, size: 1, crop: 'face' };
    const dataset = await loadDataset(settings, { resolution: 32, cacheDir });
    expect(dataset.items.map((item) => item.id)).toEqual(['boxed.png']);
    expect([...dataset.images.subarray((16 * 32 + 16) * 3, (16 * 32 + 16) * 3 + 3)]).toEqual([1, -1, -1]);
    const centred = await loadDataset({ ...settings, crop: 'center', size: 2 }, { resolution: 32, cacheDir });
    expect(centred.images[(16 * 32 + 2) * 3 + 2]).toBe(1); // blue on the left of the centred square
    await expect(loadDataset({ ...settings, size: 2 }, { resolution: 32, cacheDir })).rejects.toThrow(/1 unusable/);
    const withoutBoxes = await fixture({ 'a.png': picture });
    await expect(loadDataset({ ...settings, path: withoutBoxes }, { resolution: 32, cacheDir })).rejects.toThrow(`crop face needs face boxes, and folder ${withoutBoxes} gives none`);
  });

  it('names the labels a folder has when a filter asks for another', async () => {
    const root = await fixture({ 'a.jpg': await pictureJpeg(64, 64, 1), 'labels.csv': 'file,smile\na.jpg,true\n' });
    const settings: DatasetSettings = { ...DEFAULT_SETTINGS.dataset, source: 'folder', path: root, size: 1 };
    expect((await loadDataset({ ...settings, where: { smile: true } }, { resolution: 32, cacheDir })).summary.counts).toEqual({ smile: { true: 1 } });
    await expect(loadDataset({ ...settings, where: { gender: 'male' } }, { resolution: 32, cacheDir })).rejects.toThrow(`folder ${root} has no label "gender" (labels: smile)`);
  });

  it.skipIf(!existsSync(UTKFACE_SAMPLE))('loads men only from the shared UTKFace sample, and decodes nothing the second time', async () => {
    const settings: DatasetSettings = { ...DEFAULT_SETTINGS.dataset, source: 'utkface', path: UTKFACE_SAMPLE, size: 40, where: { gender: 'male' } };
    const first = await loadDataset(settings, { resolution: 32, cacheDir });
    expect(first.items.every((item) => item.labels.gender === 'male')).toBe(true);
    expect(first.summary.counts.gender).toEqual({ male: 40, female: 0 });
    expect(first.summary.skipped).toEqual([]);
    const second = await loadDataset(settings, { resolution: 32, cacheDir });
    expect(second.cache).toEqual(expect.objectContaining({ prepared: 0, reused: 40 }));
    expect(second.summary.itemsHash).toBe(first.summary.itemsHash);
  });
});
