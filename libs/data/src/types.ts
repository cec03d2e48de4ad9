import type { DatasetSettings } from '@facegan/spec';

/** The labels every cartoon face carries. */
export interface FaceLabels {
  gender: 'male' | 'female';
  glasses: boolean;
  facialHair: boolean;
  hat: boolean;
  skinTone: 'light' | 'medium' | 'dark';
  hairColor: 'black' | 'brown' | 'blonde' | 'red' | 'gray';
}

export interface DatasetItem {
  /** Stable id of the source image, e.g. `cartoon:000123`. */
  id: string;
  labels: FaceLabels;
}

/** Counts per label value of what a model trains on, e.g. `{ gender: { male: 100, female: 0 }, ... }`. */
export type LabelCounts = Record<string, Record<string, number>>;

export interface DatasetSummary {
  source: string;
  size: number;
  where: DatasetSettings['where'];
  seed: number;
  counts: LabelCounts;
  /** Hash of the ordered list of item ids: two runs with the same hash saw the same images. */
  itemsHash: string;
}

/** Preprocessed training images, ready for the trainer. */
export interface Dataset {
  resolution: number;
  channels: 3;
  count: number;
  /** NHWC, values in [-1, 1] (x / 127.5 - 1). Length count * resolution * resolution * channels. */
  images: Float32Array;
  items: DatasetItem[];
  summary: DatasetSummary;
  /** What loading did with the on-disk cache: faces rendered now vs. found already rendered. */
  cache: { folder: string; rendered: number; reused: number };
}

export interface LoadDatasetOptions {
  resolution: number;
  /** Folder for the on-disk cache of rendered faces (default `runs/cache`). */
  cacheDir: string;
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
