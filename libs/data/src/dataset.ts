import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { SOURCE_LABELS, type DatasetSettings, type LabelValues } from '@facegan/spec';
import { PreparedCache } from './cache';
import { CARTOON_VERSION, cartoonRenderSize, renderCartoonPng } from './cartoon';
import type { Catalog } from './catalog';
import { readCelebaCatalog } from './celeba';
import { mapWithConcurrency } from './concurrency';
import { readFolderCatalog } from './folder';
import { mirrorInto, prepareImage, writeNormalized, type Prepared } from './prepare';
import { cartoonPool, catalogPool, countLabels, partsOf, type Candidate, type PartPool } from './subset';
import type { Dataset, DatasetItem, LoadDatasetOptions, SkippedFile } from './types';
import { readUtkfaceCatalog } from './utkface';

/** Images in flight: sharp decodes on libuv's pool (4 threads), which also does the file reads and cache writes; 8 keep it full. */
const PREPARE_CONCURRENCY = 8;

const CATALOG_READERS: Record<Exclude<DatasetSettings['source'], 'cartoon'>, (root: string) => Promise<Catalog>> = {
  utkface: readUtkfaceCatalog,
  celeba: readCelebaCatalog,
  folder: readFolderCatalog,
};

type Outcome = { pixels: Uint8Array; contentHash: string } | { skipped: string };

/**
 * Chooses the images the settings describe (filter, composition, seed), prepares each (decode, orient, crop, resize;
 * from the on-disk cache when it can) and returns them as NHWC in [-1, 1]. Bad files are skipped and replaced by the
 * next candidate, and listed in the summary; only too few usable images make it fail, saying how many matched.
 */
export async function loadDataset(settings: DatasetSettings, options: LoadDatasetOptions): Promise<Dataset> {
  const { resolution, cacheDir, onProgress } = options;
  if (!Number.isInteger(resolution) || resolution < 1) throw new RangeError(`resolution must be a positive integer, got ${resolution}`);
  const { source, size, seed, channels, crop, flip } = settings;
  if (source !== 'cartoon' && !(source in CATALOG_READERS)) {
    throw new Error(`unknown dataset source ${JSON.stringify(source)} (sources: cartoon, ${Object.keys(CATALOG_READERS).join(', ')})`);
  }

  const root = source === 'cartoon' ? undefined : resolve(options.baseDir ?? process.cwd(), requirePath(settings));
  const catalog = root === undefined ? undefined : await CATALOG_READERS[source as keyof typeof CATALOG_READERS](root);
  const labelValues: Record<string, LabelValues | 'any'> = catalog?.labels ?? { ...SOURCE_LABELS.cartoon };
  const described = catalog ? `${source} ${catalog.root}` : 'the cartoon faces';
  const parts = partsOf(settings);
  for (const part of parts) checkLabels(part.where, labelValues, described, source === 'folder');
  if (crop === 'face' && !catalog?.boxes) throw new Error(`crop face needs face boxes, and ${described} gives none: use crop center`);

  const pools = parts.map((part, index) =>
    catalog ? catalogPool(catalog, part.where, part.count, seed, index) : cartoonPool(part.where, part.count, seed, index),
  );
  if (pools.some((pool) => pool.matched < pool.count)) throw notEnoughError(described, pools);

  const cache = new PreparedCache(cacheDir, { resolution, channels, crop });
  const renderSize = cartoonRenderSize(resolution);
  let prepared = 0;
  let reused = 0;
  const prepareCandidate = async (candidate: Candidate): Promise<Outcome> => {
    if (candidate.cartoonIndex !== undefined) {
      const key = `cartoon ${CARTOON_VERSION} ${candidate.cartoonIndex}`;
      const result = await cachedOr(key, async () => prepareImage(await renderCartoonPng(candidate.cartoonIndex as number, renderSize), { resolution, channels }));
      return 'pixels' in result ? { pixels: result.pixels, contentHash: `cartoon-${CARTOON_VERSION}` } : result;
    }
    if (crop === 'face' && !candidate.box) return { skipped: `no face box (crop: face) in ${catalog?.boxes}` };
    let bytes: Buffer;
    try {
      bytes = await readFile(candidate.file as string);
    } catch (error) {
      return { skipped: `unreadable (${(error as NodeJS.ErrnoException).code ?? String(error)})` };
    }
    const contentHash = createHash('sha256').update(bytes).digest('hex');
    const box = crop === 'face' ? candidate.box : undefined;
    const key = box ? `${contentHash} box ${[box.x, box.y, box.width, box.height].map((value) => value.toFixed(2)).join(',')}` : contentHash;
    const result = await cachedOr(key, () => prepareImage(bytes, { resolution, channels, box }));
    return 'pixels' in result ? { pixels: result.pixels, contentHash } : result;
  };
  async function cachedOr(key: string, make: () => Promise<Prepared>): Promise<Prepared> {
    const cached = await cache.read(key);
    if (cached) {
      reused++;
      return cached;
    }
    const made = await make();
    prepared++;
    await cache.write(key, made);
    return made;
  }

  const imageLength = resolution * resolution * channels;
  const images = new Float32Array((flip ? 2 : 1) * size * imageLength);
  const items: DatasetItem[] = [];
  const contentHashes: string[] = [];
  const skipped: SkippedFile[] = [...(catalog?.skipped ?? [])];
  const taken = new Set<string>();
  const summaryParts: Dataset['summary']['parts'] = [];
  let done = 0;
  for (const pool of pools) {
    let position = 0;
    let got = 0;
    const unusable: SkippedFile[] = [];
    let inEarlierParts = 0;
    // Each round tries as many candidates as are still missing, so the set is the first `count` usable ones in pool order.
    while (got < pool.count && position < pool.candidates.length) {
      const round: Candidate[] = [];
      while (round.length < pool.count - got && position < pool.candidates.length) {
        const candidate = pool.candidates[position++];
        if (taken.has(candidate.id)) inEarlierParts++;
        else round.push(candidate);
      }
      const outcomes = await mapWithConcurrency(round, PREPARE_CONCURRENCY, async (candidate) => {
        const outcome = await prepareCandidate(candidate);
        if ('pixels' in outcome) onProgress?.(++done, size);
        return outcome;
      });
      for (const [index, outcome] of outcomes.entries()) {
        const candidate = round[index];
        if ('skipped' in outcome) {
          unusable.push({ file: candidate.id, reason: outcome.skipped });
          continue;
        }
        writeNormalized(outcome.pixels, images, items.length * imageLength);
        items.push(candidate.file ? { id: candidate.id, labels: candidate.labels, file: candidate.file } : { id: candidate.id, labels: candidate.labels });
        contentHashes.push(outcome.contentHash);
        taken.add(candidate.id);
        got++;
      }
    }
    skipped.push(...unusable);
    if (got < pool.count) {
      const listed = unusable.slice(0, 5).map(({ file, reason }) => `${file}: ${reason}`);
      if (unusable.length > listed.length) listed.push('…');
      const lost = [
        unusable.length && `${unusable.length} unusable (${listed.join('; ')})`,
        inEarlierParts && `${inEarlierParts} taken by earlier parts`,
      ].filter(Boolean);
      throw new Error(
        `not enough usable images in ${described}: ${pool.count} asked where ${JSON.stringify(pool.where)}, ` +
          `${pool.matched} matched${pool.scope}, ${lost.join(' and ')}; loosen the filter or lower the size`,
      );
    }
    summaryParts.push({ where: pool.where, matched: pool.matched, taken: got });
  }

  if (flip) {
    for (let index = 0; index < size; index++) {
      const original = images.subarray(index * imageLength, (index + 1) * imageLength);
      mirrorInto(original, images.subarray((size + index) * imageLength, (size + index + 1) * imageLength), resolution, channels);
    }
    items.push(...items.slice(0, size).map((item) => ({ ...item, flipped: true })));
  }

  const sourceItems = items.slice(0, size);
  return {
    resolution,
    channels,
    count: items.length,
    images,
    items,
    summary: {
      source,
      ...(catalog ? { path: catalog.root } : {}),
      size,
      images: items.length,
      where: settings.where,
      ...(settings.compose ? { compose: settings.compose } : {}),
      seed,
      channels,
      crop,
      flip,
      parts: summaryParts,
      counts: countLabels(sourceItems, labelValues),
      files: sourceItems.map((item) => item.id),
      itemsHash: createHash('sha256')
        .update(sourceItems.map((item, index) => `${item.id} ${contentHashes[index]}`).join('\n'))
        .digest('hex'),
      skipped,
    },
    cache: { folder: cache.folder, prepared, reused },
  };
}

function requirePath(settings: DatasetSettings): string {
  if (!settings.path) throw new Error(`source ${settings.source} needs dataset.path, the folder of its images`);
  return settings.path;
}

function checkLabels(where: object, labelValues: Record<string, unknown>, described: string, isFolder: boolean): void {
  const known = Object.keys(labelValues);
  for (const label of Object.keys(where)) {
    if (label in labelValues) continue;
    const listing = known.length ? `labels: ${known.join(', ')}` : isFolder ? 'it has no labels.csv' : 'it has no labels';
    throw new Error(`${described} has no label "${label}" (${listing})`);
  }
}

function notEnoughError(described: string, pools: readonly PartPool[]): Error {
  const lines = pools.map((pool, index) => {
    const name = pools.length > 1 ? `part ${index}` : 'the set';
    const verdict = pool.matched < pool.count ? 'too few' : 'enough';
    return `  ${name} where ${JSON.stringify(pool.where)}: ${pool.matched} matched${pool.scope}, ${pool.count} asked (${verdict})`;
  });
  return new Error(`not enough images in ${described}:\n${lines.join('\n')}\nloosen the filter or lower the size`);
}
