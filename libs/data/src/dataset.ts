import { createHash } from 'node:crypto';
import type { DatasetSettings } from '@facegan/spec';
import { baseSizeFor, cartoonCacheFolder, cartoonId, cartoonPng, recordCartoonLabels } from './cache';
import { cartoonLabels } from './cartoon';
import { forEachWithConcurrency } from './concurrency';
import { writeNormalizedPixels } from './image';
import { chooseCartoonIndices } from './subset';
import type { Dataset, DatasetItem, FaceLabels, LabelCounts, LoadDatasetOptions } from './types';

/** sharp renders on libvips's own threads; a few faces in flight keep them busy without flooding memory. */
const RENDER_CONCURRENCY = 4;

const LABEL_VALUES: { [K in keyof FaceLabels]: readonly FaceLabels[K][] } = {
  gender: ['male', 'female'],
  glasses: [true, false],
  facialHair: [true, false],
  hat: [true, false],
  skinTone: ['light', 'medium', 'dark'],
  hairColor: ['black', 'brown', 'blonde', 'red', 'gray'],
};

/**
 * Chooses the subset the settings describe, renders (or reuses from the cache) every face, and preprocesses them to
 * `options.resolution`² RGB in [-1, 1], NHWC.
 */
export async function loadDataset(settings: DatasetSettings, options: LoadDatasetOptions): Promise<Dataset> {
  if (settings.source !== 'cartoon') throw new Error(`unknown dataset source ${JSON.stringify(settings.source)}; only "cartoon" exists`);
  const { resolution, cacheDir, onProgress } = options;
  if (!Number.isInteger(resolution) || resolution < 1) throw new RangeError(`resolution must be a positive integer, got ${resolution}`);

  const indices = chooseCartoonIndices(settings);
  const items: DatasetItem[] = indices.map((index) => ({ id: cartoonId(index), labels: cartoonLabels(index) }));
  const baseSize = baseSizeFor(resolution);
  const imageLength = resolution * resolution * 3;
  const images = new Float32Array(indices.length * imageLength);
  let rendered = 0;
  let done = 0;
  await forEachWithConcurrency(indices, RENDER_CONCURRENCY, async (index, position) => {
    const face = await cartoonPng(cacheDir, index, baseSize);
    if (face.rendered) rendered++;
    await writeNormalizedPixels(face.png, resolution, images, position * imageLength);
    onProgress?.(++done, indices.length);
  });
  await recordCartoonLabels(cacheDir, indices);

  return {
    resolution,
    channels: 3,
    count: indices.length,
    images,
    items,
    summary: {
      source: settings.source,
      size: indices.length,
      where: settings.where,
      seed: settings.seed,
      counts: countLabels(items),
      itemsHash: hashItems(items),
    },
    cache: { folder: cartoonCacheFolder(cacheDir, baseSize), rendered, reused: indices.length - rendered },
  };
}

/** Counts every value of every label, zeros included, so summaries of different subsets line up. */
export function countLabels(items: readonly DatasetItem[]): LabelCounts {
  const counts: LabelCounts = {};
  for (const [label, values] of Object.entries(LABEL_VALUES)) {
    counts[label] = Object.fromEntries(values.map((value) => [String(value), 0]));
  }
  for (const { labels } of items) {
    for (const [label, value] of Object.entries(labels)) counts[label][String(value)]++;
  }
  return counts;
}

export function hashItems(items: readonly DatasetItem[]): string {
  return createHash('sha256')
    .update(items.map((item) => item.id).join('\n'))
    .digest('hex');
}
