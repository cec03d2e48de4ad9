import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { mixSeed, seededRandom } from '@facegan/random';

/** The shared UTKFace sample (2,000 real photos); tests that need it skip when it is absent. Never copy it into the repo. */
export const UTKFACE_SAMPLE = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', 'shared', 'data', 'utkface-2000');

/** Raw RGB pixels of a smooth picture: a two-colour gradient and a disc, different for every seed. */
export function pictureRgb(width: number, height: number, seed: number): Buffer {
  const random = seededRandom(mixSeed(seed));
  const [from, to, disc] = [0, 1, 2].map(() => [random(), random(), random()].map((value) => Math.round(value * 255)));
  const cx = width * (0.3 + 0.4 * random());
  const cy = height * (0.3 + 0.4 * random());
  const radius = Math.min(width, height) * 0.3;
  const pixels = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const t = (x + y) / (width + height);
      const inside = (x - cx) ** 2 + (y - cy) ** 2 < radius ** 2;
      for (let c = 0; c < 3; c++) pixels[(y * width + x) * 3 + c] = inside ? disc[c] : Math.round(from[c] * (1 - t) + to[c] * t);
    }
  }
  return pixels;
}

export async function pictureJpeg(width: number, height: number, seed: number): Promise<Buffer> {
  return sharp(pictureRgb(width, height, seed), { raw: { width, height, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
}

export async function solidPng(width: number, height: number, rgba: { r: number; g: number; b: number; alpha: number }): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 4, background: rgba } }).png().toBuffer();
}

/** A new temporary folder holding `files` (path → content; folders are created). */
export async function folderWith(files: Record<string, Buffer | string>): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'facegan-data-fixture-'));
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), content);
  }
  return root;
}
