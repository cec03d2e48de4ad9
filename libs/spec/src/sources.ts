import { didYouMean, type Finding } from './messages';
import type { Segment } from './paths';
import type { CompositionPart, DatasetSettings, DatasetSource, LabelFilter, LabelRange } from './settings';

/** CelebA's 40 attributes, in the order of `list_attr_celeba.txt`. */
export const CELEBA_ATTRIBUTES = [
  '5_o_Clock_Shadow', 'Arched_Eyebrows', 'Attractive', 'Bags_Under_Eyes', 'Bald', 'Bangs', 'Big_Lips', 'Big_Nose',
  'Black_Hair', 'Blond_Hair', 'Blurry', 'Brown_Hair', 'Bushy_Eyebrows', 'Chubby', 'Double_Chin', 'Eyeglasses', 'Goatee',
  'Gray_Hair', 'Heavy_Makeup', 'High_Cheekbones', 'Male', 'Mouth_Slightly_Open', 'Mustache', 'Narrow_Eyes', 'No_Beard',
  'Oval_Face', 'Pale_Skin', 'Pointy_Nose', 'Receding_Hairline', 'Rosy_Cheeks', 'Sideburns', 'Smiling', 'Straight_Hair',
  'Wavy_Hair', 'Wearing_Earrings', 'Wearing_Hat', 'Wearing_Lipstick', 'Wearing_Necklace', 'Wearing_Necktie', 'Young',
] as const;

/** The values a label takes: a list, or any number (`age`). */
export type LabelValues = readonly (string | boolean)[] | 'number';

const FLAG: LabelValues = [true, false];
const GENDER: LabelValues = ['male', 'female'];

/** The labels of each source and their values. A `folder` source has the columns of its labels.csv, known only when loading. */
export const SOURCE_LABELS: Readonly<Record<Exclude<DatasetSource, 'folder'>, Readonly<Record<string, LabelValues>>>> = {
  cartoon: {
    gender: GENDER,
    glasses: FLAG,
    facialHair: FLAG,
    hat: FLAG,
    skinTone: ['light', 'medium', 'dark'],
    hairColor: ['black', 'brown', 'blonde', 'red', 'gray'],
    background: ['plain', 'varied'],
  },
  utkface: { age: 'number', gender: GENDER, race: ['white', 'black', 'asian', 'indian', 'others'] },
  celeba: {
    gender: GENDER,
    glasses: FLAG,
    facialHair: FLAG,
    hat: FLAG,
    partition: ['train', 'valid', 'test'],
    ...Object.fromEntries(CELEBA_ATTRIBUTES.map((name) => [name, FLAG])),
  },
};

/** Where `crop: face` finds its boxes. */
const FACE_BOXES: Partial<Record<DatasetSource, string>> = {
  celeba: 'list_landmarks_align_celeba.txt',
  folder: 'the face_x, face_y, face_width, face_height columns of labels.csv',
};

export function isLabelRange(value: unknown): value is LabelRange {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * How many images each part of a composition gets: `count` as written, `share` × size rounded so that the parts add up
 * to exactly `size` (largest remainders get the odd images, earlier parts first). Throws when they cannot add up.
 */
export function compositionCounts(size: number, parts: readonly CompositionPart[]): number[] {
  parts.forEach((part, index) => {
    if ((part.share === undefined) === (part.count === undefined)) {
      throw new Error(`part ${index} needs exactly one of share (a fraction of size) or count`);
    }
  });
  const exact = parts.map((part) => part.count ?? (part.share as number) * size);
  const total = exact.reduce((sum, value) => sum + value, 0);
  if (Math.abs(total - size) > 1e-9 * Math.max(1, size)) {
    const terms = parts.map((part) => (part.count !== undefined ? String(part.count) : `${part.share} × ${size}`)).join(' + ');
    throw new Error(`the parts add up to ${Number(total.toFixed(6))} images (${terms}), but size is ${size}`);
  }
  const counts = exact.map((value, index) => (parts[index].count !== undefined ? value : Math.floor(value + 1e-9)));
  let missing = size - counts.reduce((sum, value) => sum + value, 0);
  const byRemainder = parts
    .map((part, index) => ({ index, remainder: exact[index] - counts[index], share: part.share !== undefined }))
    .filter((entry) => entry.share)
    .sort((a, b) => b.remainder - a.remainder || a.index - b.index);
  for (const { index } of byRemainder) {
    if (missing <= 0) break;
    counts[index] += 1;
    missing -= 1;
  }
  const empty = counts.findIndex((count) => count < 1);
  if (empty >= 0) throw new Error(`part ${empty} gets no image: its share of ${size} rounds to 0`);
  return counts;
}

/** What the schema cannot say about a resolved dataset section: labels per source, path and crop per source, composition totals. */
export function datasetFindings(dataset: DatasetSettings): Finding[] {
  const findings: Finding[] = [];
  const report = (path: Segment[], message: string, at: Finding['at'] = 'value') => findings.push({ path: ['dataset', ...path], at, message });
  const { source } = dataset;

  if (source === 'cartoon' && dataset.path !== undefined) {
    report(['path'], 'cartoon faces are drawn, not read from a folder: remove path (or pick source utkface, celeba or folder)');
  } else if (source !== 'cartoon' && dataset.path === undefined) {
    report(['source'], `source ${source} needs dataset.path, the folder of its images`);
  }
  if (dataset.crop === 'face' && !FACE_BOXES[source]) {
    const givers = Object.entries(FACE_BOXES).map(([name, where]) => `${name} (${where})`).join(' and ');
    report(['crop'], `crop face needs face boxes, which only ${givers} give; ${source} images are face crops already: use crop center`);
  }

  const checkFilter = (where: LabelFilter, path: Segment[]) => {
    for (const [label, condition] of Object.entries(where)) {
      if (condition === undefined) continue;
      const values = source === 'folder' ? undefined : SOURCE_LABELS[source][label];
      if (source !== 'folder' && !values) {
        const known = Object.keys(SOURCE_LABELS[source]);
        report([...path, label], `"${label}" is not a label of source ${source}${didYouMean(label, known)} (labels: ${known.join(', ')})`, 'key');
        continue;
      }
      if (isLabelRange(condition)) {
        if (values && values !== 'number') report([...path, label], `${label} takes one of ${values.join(', ')}, not a range`);
        else if (condition.min !== undefined && condition.max !== undefined && condition.min > condition.max) {
          report([...path, label], `${label} range is empty: min ${condition.min} is above max ${condition.max}`);
        }
      } else if (values === 'number' && typeof condition !== 'number') {
        report([...path, label], `${label} ${JSON.stringify(condition)} must be a number or a range {min, max}`);
      } else if (Array.isArray(values) && !values.includes(condition as string | boolean)) {
        report([...path, label], `${label} ${JSON.stringify(condition)} must be one of: ${values.join(', ')}`);
      }
    }
  };
  checkFilter(dataset.where, ['where']);

  if (dataset.compose) {
    const { parts } = dataset.compose;
    parts.forEach((part, index) => {
      checkFilter(part.where, ['compose', 'parts', index, 'where']);
      for (const [label, condition] of Object.entries(part.where)) {
        const outer = dataset.where[label];
        if (outer !== undefined && condition !== undefined && JSON.stringify(outer) !== JSON.stringify(condition)) {
          report(
            ['compose', 'parts', index, 'where', label],
            `${label} ${JSON.stringify(condition)} contradicts dataset.where, which sets ${JSON.stringify(outer)}: a part only narrows the dataset's filter`,
          );
        }
      }
    });
    try {
      compositionCounts(dataset.size, parts);
    } catch (error) {
      report(['compose', 'parts'], (error as Error).message);
    }
  }
  return findings;
}
