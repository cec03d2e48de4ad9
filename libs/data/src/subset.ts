import { compositionCounts, isLabelRange, type DatasetSettings, type LabelFilter, type LabelValues } from '@facegan/spec';
import { cartoonLabels } from './cartoon';
import type { Catalog } from './catalog';
import type { FaceBox } from './prepare';
import { mixSeed, seededRandom, shuffled } from '@facegan/random';
import type { DatasetItem, LabelCounts, Labels } from './types';

/** Cartoon faces scanned at most before a filter is declared unsatisfiable (more if the part itself needs it). */
export const MAX_SCANNED = 50_000;
const MIN_POOL = 2_000;
const POOL_PER_ITEM = 4;

/** An image that may go into the training set. */
export interface Candidate {
  id: string;
  labels: Labels;
  file?: string;
  box?: FaceBox;
  cartoonIndex?: number;
}

/** One part of the training set: its whole filter, how many it takes, and its candidates in the seeded order they are tried. */
export interface PartPool {
  where: LabelFilter;
  count: number;
  candidates: Candidate[];
  /** How many images match `where` (for cartoon: among the faces scanned, see `scope`). */
  matched: number;
  scope: string;
}

/** Every key matches (AND): a value matches itself, a range {min, max} the numbers inside it; a missing label matches nothing. */
export function matchesFilter(labels: Labels, where: LabelFilter): boolean {
  return Object.entries(where).every(([label, condition]) => {
    if (condition === undefined) return true;
    const value = labels[label];
    if (value === undefined) return false;
    if (isLabelRange(condition)) {
      return typeof value === 'number' && (condition.min === undefined || value >= condition.min) && (condition.max === undefined || value <= condition.max);
    }
    return value === condition;
  });
}

/** The parts of the training set: one with the dataset's filter, or each composition part with both filters. */
export function partsOf(settings: Pick<DatasetSettings, 'size' | 'where' | 'compose'>): Array<{ where: LabelFilter; count: number }> {
  const { size, where, compose } = settings;
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`dataset size must be a positive integer, got ${size}`);
  if (!compose) return [{ where, count: size }];
  const counts = compositionCounts(size, compose.parts);
  return compose.parts.map((part, index) => ({ where: { ...where, ...part.where }, count: counts[index] }));
}

/** Part 0 shuffles with the dataset seed itself, so a set without composition picks as it always did. */
function partRandom(seed: number, partIndex: number): () => number {
  return seededRandom(mixSeed(seed, partIndex));
}

/** Scans the cartoon universe from face 0 until max(4·count, 2000) faces match, in a seeded order. */
export function cartoonPool(where: LabelFilter, count: number, seed: number, partIndex: number): PartPool {
  const poolSize = Math.max(POOL_PER_ITEM * count, MIN_POOL);
  const scanLimit = Math.max(MAX_SCANNED, poolSize);
  const matches: Candidate[] = [];
  let scanned = 0;
  while (matches.length < poolSize && scanned < scanLimit) {
    const labels = cartoonLabels(scanned);
    if (matchesFilter(labels, where)) matches.push({ id: cartoonId(scanned), labels, cartoonIndex: scanned });
    scanned++;
  }
  return { where, count, candidates: shuffled(matches, partRandom(seed, partIndex)), matched: matches.length, scope: ` of the first ${scanned} faces` };
}

export function catalogPool(catalog: Catalog, where: LabelFilter, count: number, seed: number, partIndex: number): PartPool {
  const matches: Candidate[] = catalog.items.filter((item) => matchesFilter(item.labels, where));
  return { where, count, candidates: shuffled(matches, partRandom(seed, partIndex)), matched: matches.length, scope: ` of ${catalog.items.length} images` };
}

export const cartoonId = (index: number): string => `cartoon:${String(index).padStart(6, '0')}`;

/** Counts every value of every label, zeros included, so summaries of different subsets line up; ages by decade. */
export function countLabels(items: readonly DatasetItem[], labels: Readonly<Record<string, LabelValues | 'any'>>): LabelCounts {
  const counts: LabelCounts = {};
  for (const [label, values] of Object.entries(labels)) {
    counts[label] = Array.isArray(values) ? Object.fromEntries(values.map((value) => [String(value), 0])) : {};
  }
  for (const item of items) {
    for (const label of Object.keys(labels)) {
      const value = item.labels[label];
      const bucket = value === undefined ? 'unknown' : labels[label] === 'number' && typeof value === 'number' ? decadeOf(value) : String(value);
      counts[label][bucket] = (counts[label][bucket] ?? 0) + 1;
    }
  }
  for (const [label, values] of Object.entries(labels)) {
    const order = (bucket: string) => (bucket === 'unknown' ? Infinity : parseInt(bucket, 10));
    if (values === 'number') counts[label] = Object.fromEntries(Object.entries(counts[label]).sort(([a], [b]) => order(a) - order(b)));
  }
  return counts;
}

function decadeOf(value: number): string {
  const start = Math.floor(value / 10) * 10;
  return `${start}-${start + 9}`;
}
