import { createHash } from 'node:crypto';
import type { BackendName, Settings } from './settings';

/** One point of a sweep: the fully resolved settings and what sets it apart from its siblings. */
export interface Variant {
  /** 12 hex chars, a hash of what the variant is (dataset, model, train): stable across runs and files. */
  id: string;
  /** Position in the expansion order (0-based). */
  index: number;
  /** Short human text, e.g. `gender=male seed=2`; `base` when nothing is swept. */
  label: string;
  settings: Settings;
  /** The swept paths and this variant's value for each, in sweep order. */
  differs: Record<string, unknown>;
}

const BACKENDS: readonly BackendName[] = ['auto', 'tensorflow', 'webgpu', 'wasm', 'cpu'];
const SECTIONS = new Set(['dataset', 'model', 'train']);

/** JSON with the keys of every object sorted, so equal values always give equal text. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Dataset settings added after ids were first stored: at these values they are left out of the hash, so older runs keep their ids. */
const LATER_DATASET_DEFAULTS: Readonly<Record<string, unknown>> = { channels: 3, flip: false, crop: 'center' };

/** Hash of what a variant is. The engine is left out: the backend is how a variant is trained, not what. */
export function variantId(settings: Settings): string {
  const { model, train } = settings;
  const dataset = Object.fromEntries(
    Object.entries(settings.dataset).filter(([key, value]) => !(key in LATER_DATASET_DEFAULTS) || LATER_DATASET_DEFAULTS[key] !== value),
  );
  return createHash('sha256').update(canonicalJson({ dataset, model, train })).digest('hex').slice(0, 12);
}

/** A copy of `settings` trained on another backend (same variant id). */
export function withBackend(settings: Settings, backend: BackendName): Settings {
  if (!BACKENDS.includes(backend)) throw new Error(`unknown backend "${backend}" (allowed: ${BACKENDS.join(', ')})`);
  const copy = structuredClone(settings);
  copy.engine.backend = backend;
  return copy;
}

/**
 * Sets a swept value. A whole section (`model`) is merged over the section it replaces; any other path,
 * `dataset.where` included, is replaced as a whole.
 */
export function applySweepValue(settings: Settings, path: string, value: unknown): void {
  const segments = path.split('.');
  if (segments.length === 1 && SECTIONS.has(path)) {
    const target = settings as unknown as Record<string, Record<string, unknown>>;
    target[path] = { ...target[path], ...structuredClone(value as Record<string, unknown>) };
    return;
  }
  let parent = settings as unknown as Record<string, unknown>;
  for (const segment of segments.slice(0, -1)) parent = parent[segment] as Record<string, unknown>;
  parent[segments[segments.length - 1]] = structuredClone(value);
}

/** A variant and, per swept path, the index of the value it took. */
export interface Expansion {
  variant: Variant;
  choices: number[];
}

/** The cartesian product of the sweep lists, in key order with the last key fastest. */
export function expandSweep(base: Settings, sweep: Record<string, readonly unknown[]>): Expansion[] {
  const paths = Object.keys(sweep);
  let combinations: number[][] = [[]];
  for (const path of paths) {
    combinations = combinations.flatMap((choices) => sweep[path].map((_, index) => [...choices, index]));
  }
  const names = shortNames(paths);
  return combinations.map((choices, index) => {
    const settings = structuredClone(base);
    const differs: Record<string, unknown> = {};
    paths.forEach((path, position) => {
      const value = sweep[path][choices[position]];
      applySweepValue(settings, path, value);
      differs[path] = structuredClone(value);
    });
    const label = paths.length ? paths.map((path) => labelPart(path, names[path], differs[path])).join(' ') : 'base';
    return { variant: { id: variantId(settings), index, label, settings, differs }, choices };
  });
}

/** The last segment of each path (`seed`), or the whole path where two paths would share one. */
function shortNames(paths: readonly string[]): Record<string, string> {
  const last = (path: string) => path.split('.').pop() as string;
  const counts = new Map<string, number>();
  for (const path of paths) counts.set(last(path), (counts.get(last(path)) ?? 0) + 1);
  return Object.fromEntries(paths.map((path) => [path, counts.get(last(path)) === 1 ? last(path) : path]));
}

function labelPart(path: string, name: string, value: unknown): string {
  if (path === 'dataset.where') return filterLabel(value as Record<string, unknown>);
  if (SECTIONS.has(path)) {
    const entries = Object.entries(value as Record<string, unknown>);
    if (!entries.length) return `${path}=base`;
    return entries
      .map(([key, item]) => (key === 'where' ? filterLabel(item as Record<string, unknown>) : `${key}=${compact(item)}`))
      .join(' ');
  }
  return `${name}=${compact(value)}`;
}

function filterLabel(filter: Record<string, unknown>): string {
  const entries = Object.entries(filter);
  return entries.length ? entries.map(([key, item]) => `${key}=${compact(item)}`).join(' ') : 'where=all';
}

function compact(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** A plain-text table: id, label and one column per swept path (values as compact JSON), aligned. */
export function formatVariantTable(variants: readonly Variant[]): string {
  const paths = [...new Set(variants.flatMap((variant) => Object.keys(variant.differs)))];
  const rows = [
    ['id', 'label', ...paths],
    ...variants.map((variant) => [
      variant.id,
      variant.label,
      ...paths.map((path) => (path in variant.differs ? JSON.stringify(variant.differs[path]) : '')),
    ]),
  ];
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  return rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column])).join('  ').trimEnd()).join('\n');
}
