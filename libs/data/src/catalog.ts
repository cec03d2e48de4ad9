import { readdir, stat } from 'node:fs/promises';
import { extname, join, sep } from 'node:path';
import type { LabelValues } from '@facegan/spec';
import type { FaceBox } from './prepare';
import type { Labels, SkippedFile } from './types';

/** One image of a folder source, before it is read. */
export interface CatalogItem {
  /** Path inside the source folder, `/`-separated. */
  id: string;
  file: string;
  labels: Labels;
  box?: FaceBox;
}

/** What a source folder holds: its images and their labels, and the files it could not label. */
export interface Catalog {
  root: string;
  /** Every label the source gives and its values; `any`: whatever the source's own label file holds. */
  labels: Record<string, LabelValues | 'any'>;
  /** Where face boxes come from, when the source gives them (for `crop: face`). */
  boxes?: string;
  items: CatalogItem[];
  skipped: SkippedFile[];
}

export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif'];

/** The image files under `folder` (recursively), as `/`-separated paths relative to it, sorted. Other files are ignored. */
export async function listImageFiles(folder: string): Promise<string[]> {
  const info = await stat(folder).catch(() => undefined);
  if (!info?.isDirectory()) throw new Error(`dataset folder ${folder} ${info ? 'is not a folder' : 'does not exist'}`);
  const entries = await readdir(folder, { recursive: true });
  return entries
    .filter((entry) => IMAGE_EXTENSIONS.includes(extname(entry).toLowerCase()))
    .map((entry) => entry.split(sep).join('/'))
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

export function catalogItem(root: string, id: string, labels: Labels, box?: FaceBox): CatalogItem {
  return box ? { id, file: join(root, id), labels, box } : { id, file: join(root, id), labels };
}
