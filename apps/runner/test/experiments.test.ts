import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadSpec } from '@facegan/spec';
import { workspaceRoot } from './cli';

const folder = join(workspaceRoot, 'experiments');
const specs = readdirSync(folder).filter((name) => name.endsWith('.yaml'));

describe('the committed experiments', () => {
  it('include the seed experiments', () => {
    expect(specs).toEqual(expect.arrayContaining(['quickstart.yaml', 'mixed.yaml', 'men-only.yaml', 'glasses-bias.yaml']));
  });

  it.each(specs)('%s is a valid spec with distinct variants', (name) => {
    const spec = loadSpec(join(folder, name));
    expect(spec.name).toBe(name.replace(/\.yaml$/, ''));
    expect(spec.variants.length).toBeGreaterThan(0);
    expect(new Set(spec.variants.map((variant) => variant.id)).size).toBe(spec.variants.length);
  });
});
