import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { CARTOON_VERSION, cartoonFace, cartoonLabels } from './cartoon';
import type { FaceLabels } from './types';

/** Faces are rendered once at this size and cached; smaller training resolutions are resized from it. */
export const BASE_SIZE = 128;

export const cartoonId = (index: number): string => `cartoon:${String(index).padStart(6, '0')}`;

/** The cached render size for a training resolution: 128, or the next multiple of 128 for larger ones. */
export function baseSizeFor(resolution: number): number {
  return Math.max(BASE_SIZE, Math.ceil(resolution / BASE_SIZE) * BASE_SIZE);
}

/** `<cacheDir>/cartoon/v1/` holds the 128 px faces; larger base sizes get a `<size>px/` sub-folder. */
export function cartoonCacheFolder(cacheDir: string, baseSize = BASE_SIZE): string {
  const folder = join(cacheDir, 'cartoon', CARTOON_VERSION);
  return baseSize === BASE_SIZE ? folder : join(folder, `${baseSize}px`);
}

export function cartoonPngPath(cacheDir: string, index: number, baseSize = BASE_SIZE): string {
  return join(cartoonCacheFolder(cacheDir, baseSize), `${String(index).padStart(6, '0')}.png`);
}

/** Returns the cached PNG of face #index, rendering and caching it first if missing. `rendered` says which happened. */
export async function cartoonPng(cacheDir: string, index: number, baseSize = BASE_SIZE): Promise<{ png: Buffer; rendered: boolean }> {
  const path = cartoonPngPath(cacheDir, index, baseSize);
  try {
    return { png: await readFile(path), rendered: false };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const png = await renderCartoonPng(index, baseSize);
  await mkdir(cartoonCacheFolder(cacheDir, baseSize), { recursive: true });
  await writeFileAtomically(path, png);
  return { png, rendered: true };
}

/** Rasterises face #index to an opaque size × size RGB PNG. */
export async function renderCartoonPng(index: number, size: number): Promise<Buffer> {
  const { svg } = cartoonFace(index);
  const sized = svg.replace('<svg ', `<svg width="${size}" height="${size}" `);
  return sharp(Buffer.from(sized)).flatten({ background: '#ffffff' }).png().toBuffer();
}

interface LabelsIndex {
  version: string;
  faces: Record<string, FaceLabels>;
}

/**
 * Adds the labels of `indices` to `<cacheDir>/cartoon/v1/labels.json` (for tools that browse the cache; loadDataset
 * recomputes labels, which are cheap). Two processes may race and drop each other's additions; the next load adds them back.
 */
export async function recordCartoonLabels(cacheDir: string, indices: readonly number[]): Promise<void> {
  const path = join(cartoonCacheFolder(cacheDir), 'labels.json');
  let index: LabelsIndex = { version: CARTOON_VERSION, faces: {} };
  try {
    const stored = JSON.parse(await readFile(path, 'utf8')) as LabelsIndex;
    if (stored.version === CARTOON_VERSION && stored.faces) index = stored;
  } catch {
    // Missing or unreadable: start afresh.
  }
  const missing = indices.filter((i) => !(String(i) in index.faces));
  if (missing.length === 0) return;
  for (const i of missing) index.faces[String(i)] = cartoonLabels(i);
  await mkdir(cartoonCacheFolder(cacheDir), { recursive: true });
  await writeFileAtomically(path, JSON.stringify(index));
}

/** Writes to a unique temporary file and renames it into place, so readers never see half a file, even across processes. */
async function writeFileAtomically(path: string, data: string | Buffer): Promise<void> {
  const temporary = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(temporary, data);
    await rename(temporary, path);
  } catch (error) {
    await unlink(temporary).catch(() => undefined);
    throw error;
  }
}
