import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS, parseSpec, specSchema, specSchemaPath, SWEEPABLE_PATHS } from '../src/index';

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
      expect(sectionKeys(section)).toEqual(Object.keys(values));
    }
    expect(parseSpec('experiment: defaults\n', 'd.yaml').variants[0].settings).toEqual(DEFAULT_SETTINGS);
  });

  it('lets a sweep vary every setting of dataset, model and train, and the where labels', () => {
    const leaves = ['dataset', 'model', 'train'].flatMap((section) => sectionKeys(section).map((key) => `${section}.${key}`));
    const labels = sectionKeys('where').map((key) => `dataset.where.${key}`);
    expect([...SWEEPABLE_PATHS].sort()).toEqual(['dataset', 'model', 'train', ...leaves, ...labels].sort());
  });
});
