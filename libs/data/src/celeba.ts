import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SOURCE_LABELS, type LabelValues } from '@facegan/spec';
import { catalogItem, listImageFiles, type Catalog, type CatalogItem } from './catalog';
import type { FaceBox } from './prepare';
import type { Labels, SkippedFile } from './types';

export const CELEBA_IMAGES = 'img_align_celeba';
const ATTRIBUTES_FILE = 'list_attr_celeba.txt';
const PARTITION_FILE = 'list_eval_partition.txt';
const LANDMARKS_FILE = 'list_landmarks_align_celeba.txt';
const PARTITIONS = ['train', 'valid', 'test'];
/** A face crop's side in eye-to-mouth distances: from the forehead to below the chin on aligned CelebA faces. */
const FACE_SIDE_PER_EYE_MOUTH = 3.2;

interface Table {
  /** file name → the values of its row */
  rows: Map<string, string[]>;
  problems: SkippedFile[];
}

/**
 * Reads a CelebA annotation table: whitespace-separated `file v1 … vN` rows, after `headerLines` lines
 * (list_attr_celeba.txt: the count, then the names). Rows with another number of values are problems, not rows.
 */
export function parseCelebaTable(text: string, fileName: string, headerLines: number, width: number): Table {
  const rows = new Map<string, string[]>();
  const problems: SkippedFile[] = [];
  const lines = text.split(/\r?\n/);
  for (let index = headerLines; index < lines.length; index++) {
    const fields = lines[index].trim().split(/\s+/);
    if (fields[0] === '') continue;
    const [file, ...values] = fields;
    if (values.length !== width) {
      problems.push({ file, reason: `${fileName} line ${index + 1} has ${values.length} values, ${width} expected` });
    } else if (rows.has(file)) {
      problems.push({ file, reason: `${fileName} line ${index + 1} repeats ${file}` });
    } else {
      rows.set(file, values);
    }
  }
  return { rows, problems };
}

/** The labels of one list_attr_celeba.txt row: the attributes by CelebA's names, and the common labels they give. */
export function celebaLabels(names: readonly string[], values: readonly string[]): Labels | string {
  const labels: Record<string, boolean | string> = {};
  for (const [index, name] of names.entries()) {
    if (values[index] !== '1' && values[index] !== '-1') return `${name} is "${values[index]}", not 1 or -1`;
    labels[name] = values[index] === '1';
  }
  if ('Male' in labels) labels.gender = labels.Male ? 'male' : 'female';
  if ('Eyeglasses' in labels) labels.glasses = labels.Eyeglasses;
  if ('Wearing_Hat' in labels) labels.hat = labels.Wearing_Hat;
  if ('No_Beard' in labels) labels.facialHair = !labels.No_Beard || labels.Mustache === true || labels.Goatee === true;
  return labels;
}

/** A square face box from CelebA's five aligned landmarks (eyes, nose, mouth corners), centred between eyes and mouth. */
export function boxFromLandmarks(values: readonly number[]): FaceBox {
  const [leftEyeX, leftEyeY, rightEyeX, rightEyeY, , , leftMouthX, leftMouthY, rightMouthX, rightMouthY] = values;
  const eyes = { x: (leftEyeX + rightEyeX) / 2, y: (leftEyeY + rightEyeY) / 2 };
  const mouth = { x: (leftMouthX + rightMouthX) / 2, y: (leftMouthY + rightMouthY) / 2 };
  const side = FACE_SIDE_PER_EYE_MOUTH * Math.hypot(mouth.x - eyes.x, mouth.y - eyes.y);
  const centre = { x: (eyes.x + mouth.x) / 2, y: (eyes.y + mouth.y) / 2 };
  return { x: centre.x - side / 2, y: centre.y - side / 2, width: side, height: side };
}

/** CelebA's layout: `img_align_celeba/`, `list_attr_celeba.txt`; optional partitions and landmarks (also under Anno/, Eval/). */
export async function readCelebaCatalog(root: string): Promise<Catalog> {
  const attributesText = await readAnnotation(root, ATTRIBUTES_FILE);
  if (attributesText === undefined) throw new Error(`celeba: ${join(root, ATTRIBUTES_FILE)} is missing (the attribute list of CelebA)`);
  const names = (attributesText.split(/\r?\n/)[1] ?? '').trim().split(/\s+/).filter(Boolean);
  if (names.length === 0) throw new Error(`celeba: ${ATTRIBUTES_FILE} has no attribute names on its second line`);
  const attributes = parseCelebaTable(attributesText, ATTRIBUTES_FILE, 2, names.length);
  const partitionText = await readAnnotation(root, PARTITION_FILE);
  const partitions = partitionText === undefined ? undefined : parseCelebaTable(partitionText, PARTITION_FILE, 0, 1);
  const landmarksText = await readAnnotation(root, LANDMARKS_FILE);
  const landmarks = landmarksText === undefined ? undefined : parseCelebaTable(landmarksText, LANDMARKS_FILE, 2, 10);

  const skipped: SkippedFile[] = [...attributes.problems, ...(partitions?.problems ?? []), ...(landmarks?.problems ?? [])];
  const items: CatalogItem[] = [];
  const listed = new Set<string>();
  for (const id of await listImageFiles(join(root, CELEBA_IMAGES))) {
    const name = id.slice(id.lastIndexOf('/') + 1);
    listed.add(name);
    const row = attributes.rows.get(name);
    if (!row) {
      if (!attributes.problems.some((problem) => problem.file === name)) skipped.push({ file: `${CELEBA_IMAGES}/${id}`, reason: `no row in ${ATTRIBUTES_FILE}` });
      continue;
    }
    const labels = celebaLabels(names, row);
    if (typeof labels === 'string') {
      skipped.push({ file: `${CELEBA_IMAGES}/${id}`, reason: `${ATTRIBUTES_FILE}: ${labels}` });
      continue;
    }
    const partition = partitions?.rows.get(name)?.[0];
    const withPartition = partition !== undefined && PARTITIONS[Number(partition)] ? { ...labels, partition: PARTITIONS[Number(partition)] } : labels;
    const points = landmarks?.rows.get(name)?.map(Number);
    const box = points && points.every(Number.isFinite) ? boxFromLandmarks(points) : undefined;
    items.push(catalogItem(root, `${CELEBA_IMAGES}/${id}`, withPartition, box));
  }
  for (const name of attributes.rows.keys()) {
    if (!listed.has(name)) skipped.push({ file: `${CELEBA_IMAGES}/${name}`, reason: `listed in ${ATTRIBUTES_FILE} but not in ${CELEBA_IMAGES}/` });
  }

  const labelValues: Record<string, LabelValues> = Object.fromEntries(names.map((name) => [name, [true, false]]));
  for (const [label, values] of Object.entries(SOURCE_LABELS.celeba)) {
    if (!(label in labelValues) && (label !== 'partition' || partitions)) labelValues[label] = values;
  }
  return { root, labels: labelValues, boxes: landmarks ? LANDMARKS_FILE : undefined, items, skipped };
}

/** An annotation file's text from the root, or from CelebA's own Anno/ and Eval/ folders; undefined when absent. */
async function readAnnotation(root: string, name: string): Promise<string | undefined> {
  for (const folder of ['', 'Anno', 'Eval']) {
    try {
      return await readFile(join(root, folder, name), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  return undefined;
}
