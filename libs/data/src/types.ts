import type { DatasetSettings, LabelFilter, LabelValue } from '@facegan/spec';

/** The labels every cartoon face carries. */
export type FaceLabels = {
  gender: 'male' | 'female';
  glasses: boolean;
  facialHair: boolean;
  hat: boolean;
  skinTone: 'light' | 'medium' | 'dark';
  hairColor: 'black' | 'brown' | 'blonde' | 'red' | 'gray';
  background: 'plain' | 'varied';
};

/** An image's labels, by name; which names exist depends on the source. */
export type Labels = Readonly<Record<string, LabelValue>>;

export interface DatasetItem {
  /** Stable id of the source image: `cartoon:000123`, or the file's path inside the source folder (`/`-separated). */
  id: string;
  labels: Labels;
  /** Absolute path of the source file; absent for cartoon faces. */
  file?: string;
  /** True for the mirrored copies that `flip: true` adds. */
  flipped?: boolean;
}

/** Counts per label value of the source images a model trains on, e.g. `{ gender: { male: 100, female: 0 }, ... }`. */
export type LabelCounts = Record<string, Record<string, number>>;

/** A source file left out of the training set, and why. */
export interface SkippedFile {
  file: string;
  reason: string;
}

/** What a run trained on, stored with it: enough to reproduce the set and to say what the model saw. */
export interface DatasetSummary {
  source: string;
  /** The source folder, resolved; absent for cartoon. */
  path?: string;
  /** Source images (before flipping). */
  size: number;
  /** Training images: size, or 2 × size with flip. */
  images: number;
  where: DatasetSettings['where'];
  compose?: DatasetSettings['compose'];
  seed: number;
  channels: 1 | 3;
  crop: DatasetSettings['crop'];
  flip: boolean;
  /** Per part (one part without compose): its whole filter, how many images matched it, and how many it took. */
  parts: Array<{ where: LabelFilter; matched: number; taken: number }>;
  counts: LabelCounts;
  /** The ids of the source images, in training order. */
  files: string[];
  /** sha256 of `id contentHash` lines in training order: two runs with the same hash saw the same bytes in the same order. */
  itemsHash: string;
  /** Files left out: unreadable labels or names, and files that failed to decode or were too small. */
  skipped: SkippedFile[];
}

/** Preprocessed training images, ready for the trainer. */
export interface Dataset {
  resolution: number;
  channels: 1 | 3;
  count: number;
  /** NHWC, values in [-1, 1] (x / 127.5 - 1). Length count * resolution * resolution * channels. */
  images: Float32Array;
  /** One per image (count of them); mirrored copies come after the originals. */
  items: DatasetItem[];
  summary: DatasetSummary;
  /** What loading did with the on-disk cache: images decoded now vs. found prepared already. */
  cache: { folder: string; prepared: number; reused: number };
}

export interface LoadDatasetOptions {
  resolution: number;
  /** Folder of the on-disk cache of prepared images (the runner uses `runs/cache`). */
  cacheDir: string;
  /** Folder that a relative `path` is relative to: the spec file's folder (default: the working directory). */
  baseDir?: string;
  /** Called as images get ready: done of total (size). */
  onProgress?: (done: number, total: number) => void;
}

export interface GridOptions {
  count: number;
  resolution: number;
  channels: 1 | 3;
  rows: number;
  cols: number;
  /** Pixels between tiles (default 2). */
  padding?: number;
}
