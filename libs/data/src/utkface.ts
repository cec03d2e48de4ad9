import type { Labels } from './types';
import { catalogItem, listImageFiles, type Catalog, type CatalogItem } from './catalog';
import { SOURCE_LABELS } from '@facegan/spec';

const GENDERS = ['male', 'female'];
const RACES = ['white', 'black', 'asian', 'indian', 'others'];
const OLDEST = 130;

/**
 * Labels from a UTKFace file name, `age_gender_race_date.jpg` (often `….jpg.chip.jpg`): gender 0 male, 1 female;
 * race 0–4 white, black, asian, indian, others. A name that does not parse gives the reason instead of a guess.
 */
export function parseUtkfaceName(name: string): { labels: Labels } | { problem: string } {
  const base = name.slice(name.lastIndexOf('/') + 1);
  const stem = base.slice(0, base.indexOf('.') < 0 ? base.length : base.indexOf('.'));
  const fields = stem.split('_');
  if (fields.length !== 4) return { problem: `${fields.length} field${fields.length === 1 ? '' : 's'} where UTKFace names have 4 (age_gender_race_date)` };
  const [age, gender, race, date] = fields;
  if (!/^\d{1,3}$/.test(age) || Number(age) > OLDEST) return { problem: `age "${age}" is not a whole number of years from 0 to ${OLDEST}` };
  if (!/^[01]$/.test(gender)) return { problem: `gender "${gender}" is not 0 (male) or 1 (female)` };
  if (!/^[0-4]$/.test(race)) return { problem: `race "${race}" is not 0-4 (${RACES.join(', ')})` };
  if (!/^\d+$/.test(date)) return { problem: `date "${date}" is not a timestamp of digits` };
  return { labels: { age: Number(age), gender: GENDERS[Number(gender)], race: RACES[Number(race)] } };
}

export async function readUtkfaceCatalog(root: string): Promise<Catalog> {
  const items: CatalogItem[] = [];
  const skipped = [];
  for (const id of await listImageFiles(root)) {
    const parsed = parseUtkfaceName(id);
    if ('labels' in parsed) items.push(catalogItem(root, id, parsed.labels));
    else skipped.push({ file: id, reason: `file name does not parse as age_gender_race_date: ${parsed.problem}` });
  }
  return { root, labels: { ...SOURCE_LABELS.utkface }, items, skipped };
}
