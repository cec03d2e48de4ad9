import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CELEBA_ATTRIBUTES, DEFAULT_SETTINGS, parseSpec, SOURCE_LABELS, specSchema, specSchemaPath, SWEEPABLE_PATHS } from '../src/index';

/** Settings without a default: a spec may leave them out, and then they are absent. */
const OPTIONAL_KEYS: Record<string, string[]> = { dataset: ['path', 'compose'] };

const sectionKeys = (section: string) =>
  Object.keys((specSchema.definitions as Record<string, { properties: Record<string, unknown> }>)[section].properties);

describe('spec schema', () => {
  it('is the committed file', () => {
    expect(isAbsolute(specSchemaPath)).toBe(true);
    expect(existsSync(specSchemaPath)).toBe(true);
    expect(JSON.parse(readFileSync(specSchemaPath, 'utf8'))).toEqual(specSchema);
  });

  it('knows every setting of DEFAULT_SETTINGS and accepts the defaults', () => {
    for (const [section, values] of Object.entries(DEFAULT_SETTINGS)) {
      const optional = OPTIONAL_KEYS[section] ?? [];
      expect(sectionKeys(section).filter((key) => !optional.includes(key))).toEqual(Object.keys(values));
      expect(sectionKeys(section)).toEqual(expect.arrayContaining(optional));
    }
    expect(parseSpec('experiment: defaults\n', 'd.yaml').variants[0].settings).toEqual(DEFAULT_SETTINGS);
  });

  it('lets a sweep vary every setting of dataset, model and train, and the common where labels', () => {
    const leaves = ['dataset', 'model', 'train'].flatMap((section) => sectionKeys(section).map((key) => `${section}.${key}`));
    // CelebA's 40 attributes are filters too, but not sweep paths of their own (sweep dataset.where for them).
    const labels = sectionKeys('where')
      .filter((key) => !(CELEBA_ATTRIBUTES as readonly string[]).includes(key))
      .map((key) => `dataset.where.${key}`);
    expect([...SWEEPABLE_PATHS].sort()).toEqual(['dataset', 'model', 'train', ...leaves, ...labels].sort());
  });

  it('lists every label of every source as a where key, and CelebA attributes as true/false', () => {
    const whereKeys = sectionKeys('where');
    for (const labels of Object.values(SOURCE_LABELS)) expect(whereKeys).toEqual(expect.arrayContaining(Object.keys(labels)));
    const where = (specSchema.definitions as Record<string, { properties: Record<string, unknown> }>).where.properties;
    for (const name of CELEBA_ATTRIBUTES) expect(where[name]).toEqual({ $ref: '#/definitions/flag' });
  });
});
