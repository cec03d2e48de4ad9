import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LabelValue } from '@facegan/spec';
import { catalogItem, listImageFiles, type Catalog, type CatalogItem } from './catalog';
import type { FaceBox } from './prepare';
import type { SkippedFile } from './types';

export const LABELS_FILE = 'labels.csv';
const BOX_COLUMNS = ['face_x', 'face_y', 'face_width', 'face_height'] as const;

/** Splits CSV text into rows of fields: commas, double-quoted fields with `""` for a quote, CRLF or LF line ends. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (quoted) {
      if (char === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (char === '"') {
        quoted = false;
      } else {
        field += char;
      }
    } else if (char === '"') {
      quoted = true;
    } else if (char === ',') {
      row.push(field);
      field = '';
    } else if (char === '\n' || char === '\r') {
      if (char === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else {
      field += char;
    }
  }
  if (field !== '' || row.length) rows.push([...row, field]);
  return rows.filter((fields) => fields.some((value) => value.trim() !== ''));
}

/** A labels.csv cell as a label value: true/false, a number, or text; an empty cell is no label. */
export function labelValueOf(cell: string): LabelValue | undefined {
  const text = cell.trim();
  if (text === '') return undefined;
  if (/^(true|false)$/i.test(text)) return text.toLowerCase() === 'true';
  if (/^-?(\d+\.?\d*|\.\d+)(e-?\d+)?$/i.test(text)) return Number(text);
  return text;
}

/**
 * Any folder of images (searched recursively). An optional `labels.csv` at its top has a `file` column (paths relative
 * to the folder) and one column per label; `face_x, face_y, face_width, face_height` columns give face boxes.
 * Images it does not list have no labels; rows whose file is missing are reported.
 */
export async function readFolderCatalog(root: string): Promise<Catalog> {
  const files = await listImageFiles(root);
  let csv: string | undefined;
  try {
    csv = await readFile(join(root, LABELS_FILE), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  if (csv === undefined) return { root, labels: {}, items: files.map((id) => catalogItem(root, id, {})), skipped: [] };

  const [header = [], ...rows] = parseCsv(csv);
  const columns = header.map((name) => name.trim());
  const fileColumn = columns.indexOf('file');
  if (fileColumn < 0) throw new Error(`${join(root, LABELS_FILE)} needs a "file" column (its columns: ${columns.join(', ')})`);
  const boxColumns = BOX_COLUMNS.map((name) => columns.indexOf(name));
  const hasBoxes = boxColumns.every((column) => column >= 0);
  const labelColumns = columns
    .map((name, column) => ({ name, column }))
    .filter(({ name, column }) => column !== fileColumn && !(BOX_COLUMNS as readonly string[]).includes(name) && name !== '');

  const skipped: SkippedFile[] = [];
  const byFile = new Map<string, { labels: Record<string, LabelValue>; box?: FaceBox }>();
  for (const [index, row] of rows.entries()) {
    const file = (row[fileColumn] ?? '').trim().replace(/^\.\//, '');
    const line = index + 2;
    if (!file) {
      skipped.push({ file: `${LABELS_FILE}:${line}`, reason: 'row without a file name' });
      continue;
    }
    if (byFile.has(file)) {
      skipped.push({ file, reason: `${LABELS_FILE} line ${line} lists it again` });
      continue;
    }
    const labels: Record<string, LabelValue> = {};
    for (const { name, column } of labelColumns) {
      const value = labelValueOf(row[column] ?? '');
      if (value !== undefined) labels[name] = value;
    }
    const [x, y, width, height] = boxColumns.map((column) => labelValueOf(row[column] ?? ''));
    const box = hasBoxes && [x, y, width, height].every((value) => typeof value === 'number')
      ? { x: x as number, y: y as number, width: width as number, height: height as number }
      : undefined;
    byFile.set(file, { labels, box });
  }

  const present = new Set(files);
  for (const file of byFile.keys()) {
    if (!present.has(file)) skipped.push({ file, reason: `listed in ${LABELS_FILE} but not an image file in the folder` });
  }
  const items: CatalogItem[] = files.map((id) => catalogItem(root, id, byFile.get(id)?.labels ?? {}, byFile.get(id)?.box));
  return {
    root,
    labels: Object.fromEntries(labelColumns.map(({ name }) => [name, 'any' as const])),
    boxes: hasBoxes ? `the ${BOX_COLUMNS.join(', ')} columns of ${LABELS_FILE}` : undefined,
    items,
    skipped,
  };
}
