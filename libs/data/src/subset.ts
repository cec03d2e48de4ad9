import type { DatasetSettings, LabelFilter } from '@facegan/spec';
import { cartoonLabels } from './cartoon';
import { mixSeed, mulberry32, shuffled } from './random';
import type { FaceLabels } from './types';

/** Faces scanned at most before a filter is declared unsatisfiable (more if `size` itself needs it). */
export const MAX_SCANNED = 50_000;
const MIN_POOL = 2_000;
const POOL_PER_ITEM = 4;

export function matchesFilter(labels: FaceLabels, where: LabelFilter): boolean {
  return (Object.keys(where) as (keyof LabelFilter)[]).every((key) => where[key] === undefined || labels[key] === where[key]);
}

/**
 * Picks exactly `size` face indices matching `where`, deterministically from (where, size, seed): scans the universe
 * from face 0 until max(4·size, 2000) faces match, then takes `size` of them in a seeded random order.
 */
export function chooseCartoonIndices(settings: Pick<DatasetSettings, 'size' | 'where' | 'seed'>): number[] {
  const { size, where, seed } = settings;
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`dataset size must be a positive integer, got ${size}`);
  const poolSize = Math.max(POOL_PER_ITEM * size, MIN_POOL);
  const scanLimit = Math.max(MAX_SCANNED, poolSize);
  const matches: number[] = [];
  let scanned = 0;
  while (matches.length < poolSize && scanned < scanLimit) {
    if (matchesFilter(cartoonLabels(scanned), where)) matches.push(scanned);
    scanned++;
  }
  if (matches.length < size) {
    throw new Error(
      `cartoon dataset: only ${matches.length} of the first ${scanned} faces match where ${JSON.stringify(where)}, ` +
        `but size ${size} was asked; loosen the filter or lower the size`,
    );
  }
  return shuffled(matches, mulberry32(mixSeed(seed))).slice(0, size);
}
