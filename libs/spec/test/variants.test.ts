import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS, formatVariantTable, parseSpec, variantId, withBackend } from '../src/index';
import { yaml } from './helpers';

const QUICKSTART = yaml(
  'experiment: quickstart',
  'description: Men only <b>against</b> mixed',
  'dataset: { source: cartoon, size: 256, where: { gender: male }, seed: 1 }',
  'model: { resolution: 32, width: 0.25, dropout: 0.25 }',
  'train: { epochs: 4, batchSize: 32, learningRate: 0.00015, seed: 1 }',
  'engine: { backend: auto }',
  'sweep:',
  '  dataset.where: [ { gender: male }, {} ]',
  '  train.seed: [1, 2]',
);

describe('parseSpec', () => {
  it('resolves the base settings over the defaults and keeps the spec text and its hash', () => {
    const spec = parseSpec(QUICKSTART, 'quickstart.yaml');
    expect(spec.file).toBe('quickstart.yaml');
    expect(spec.name).toBe('quickstart');
    expect(spec.description).toBe('Men only <b>against</b> mixed');
    expect(spec.text).toBe(QUICKSTART);
    expect(spec.hash).toBe(createHash('sha256').update(QUICKSTART).digest('hex'));
    expect(spec.base).toEqual({
      dataset: { source: 'cartoon', size: 256, where: { gender: 'male' }, seed: 1, channels: 3, flip: false, crop: 'center' },
      model: { resolution: 32, width: 0.25, dropout: 0.25, latentDim: 100 },
      train: { epochs: 4, batchSize: 32, learningRate: 0.00015, beta1: 0.5, seed: 1, logEvery: 10 },
      engine: { backend: 'auto', checkpointEvery: 5, threads: 'auto' },
      judge: { every: 10, samples: 512, enabled: true },
    });
    expect(spec.sweep).toEqual({ 'dataset.where': [{ gender: 'male' }, {}], 'train.seed': [1, 2] });
  });

  it('gives one variant labelled base, with the defaults, when nothing is swept', () => {
    const spec = parseSpec('experiment: plain\n', 'plain.yaml');
    expect(spec.description).toBe('');
    expect(spec.sweep).toEqual({});
    expect(spec.variants).toHaveLength(1);
    const [variant] = spec.variants;
    expect(variant).toMatchObject({ index: 0, label: 'base', differs: {} });
    expect(variant.settings).toEqual(DEFAULT_SETTINGS);
    expect(variant.settings).not.toBe(DEFAULT_SETTINGS);
    expect(variant.settings.dataset.where).not.toBe(DEFAULT_SETTINGS.dataset.where);
  });

  it('treats an empty sweep as no sweep', () => {
    for (const text of ['experiment: a\nsweep:\n', 'experiment: a\nsweep: {}\n']) {
      expect(parseSpec(text, 'a.yaml').variants.map((variant) => variant.label)).toEqual(['base']);
    }
  });

  it('expands the cartesian product in key order, last key fastest', () => {
    const { variants } = parseSpec(QUICKSTART, 'quickstart.yaml');
    expect(variants.map((variant) => variant.index)).toEqual([0, 1, 2, 3]);
    expect(variants.map((variant) => variant.label)).toEqual([
      'gender=male seed=1',
      'gender=male seed=2',
      'where=all seed=1',
      'where=all seed=2',
    ]);
    expect(variants[2].differs).toEqual({ 'dataset.where': {}, 'train.seed': 1 });
    expect(variants[2].settings.dataset.where).toEqual({});
    expect(variants[1].settings.train.seed).toBe(2);
    expect(variants[1].settings.model.resolution).toBe(32);
    expect(new Set(variants.map((variant) => variant.id)).size).toBe(4);
  });

  it('multiplies the lengths of all sweep lists', () => {
    const spec = parseSpec(
      yaml(
        'experiment: grid',
        'sweep:',
        '  model.resolution: [32, 64]',
        '  model.width: [0.25, 0.5, 1]',
        '  train.learningRate: [0.0001, 0.0002]',
      ),
      'grid.yaml',
    );
    expect(spec.variants).toHaveLength(12);
    expect(spec.variants[0].label).toBe('resolution=32 width=0.25 learningRate=0.0001');
    expect(spec.variants[11].label).toBe('resolution=64 width=1 learningRate=0.0002');
    expect(spec.variants[5].settings.model).toEqual({ resolution: 32, width: 1, dropout: 0.25, latentDim: 100 });
  });

  it('replaces the whole where filter, but sets a single label inside it', () => {
    const base = 'dataset: { where: { gender: male, glasses: true } }';
    const replaced = parseSpec(yaml('experiment: a', base, 'sweep:', '  dataset.where: [{ hat: true }]'), 'a.yaml');
    expect(replaced.variants[0].settings.dataset.where).toEqual({ hat: true });
    expect(replaced.variants[0].label).toBe('hat=true');
    const merged = parseSpec(yaml('experiment: a', base, 'sweep:', '  dataset.where.gender: [female]'), 'a.yaml');
    expect(merged.variants[0].settings.dataset.where).toEqual({ gender: 'female', glasses: true });
    expect(merged.variants[0].label).toBe('gender=female');
  });

  it('merges a swept section over the base section', () => {
    const spec = parseSpec(
      yaml('experiment: a', 'model: { width: 0.5 }', 'sweep:', '  model: [{ resolution: 32 }, { resolution: 64, dropout: 0 }]'),
      'a.yaml',
    );
    expect(spec.variants.map((variant) => variant.settings.model)).toEqual([
      { resolution: 32, width: 0.5, dropout: 0.25, latentDim: 100 },
      { resolution: 64, width: 0.5, dropout: 0, latentDim: 100 },
    ]);
    expect(spec.variants[1].label).toBe('resolution=64 dropout=0');
  });

  it('spells out paths whose last segments would clash in a label', () => {
    const spec = parseSpec(yaml('experiment: a', 'sweep:', '  dataset.seed: [1]', '  train.seed: [2]'), 'a.yaml');
    expect(spec.variants[0].label).toBe('dataset.seed=1 train.seed=2');
  });
});

describe('variant ids', () => {
  const ids = (text: string) => parseSpec(text, 'spec.yaml').variants.map((variant) => variant.id);

  it('are 12 hex chars and pinned for the defaults (ids are stored: changing them orphans past runs)', () => {
    expect(variantId(DEFAULT_SETTINGS)).toMatch(/^[0-9a-f]{12}$/);
    expect(variantId(DEFAULT_SETTINGS)).toBe('a77a6ee696a3');
  });

  it('are the same when the same spec is parsed twice', () => {
    expect(ids(QUICKSTART)).toEqual(ids(QUICKSTART));
  });

  it('do not depend on the key order in the YAML', () => {
    const reordered = yaml(
      'sweep:',
      '  dataset.where: [ { gender: male }, {} ]',
      '  train.seed: [1, 2]',
      'train: { seed: 1, learningRate: 0.00015, batchSize: 32, epochs: 4 }',
      'engine: { backend: auto }',
      'model: { dropout: 0.25, width: 0.25, resolution: 32 }',
      'dataset: { seed: 1, where: { gender: male }, size: 256, source: cartoon }',
      'experiment: renamed',
    );
    expect(ids(reordered)).toEqual(ids(QUICKSTART));
  });

  it('do not change when a default is written out', () => {
    const explicit = yaml('experiment: a', 'model: { latentDim: 100 }', 'train: { beta1: 0.5, learningRate: 1.5e-4 }');
    expect(ids(explicit)).toEqual(ids('experiment: a\n'));
  });

  it('leave the backend out but change with what the variant is', () => {
    expect(ids('experiment: a\nengine: { backend: cpu }\n')).toEqual(ids('experiment: a\n'));
    expect(ids('experiment: a\nengine: { checkpointEvery: 1 }\n')).toEqual(ids('experiment: a\n'));
    expect(ids('experiment: a\njudge: { every: 1, samples: 64, enabled: false }\n')).toEqual(ids('experiment: a\n'));
    expect(ids('experiment: a\ntrain: { seed: 2 }\n')).not.toEqual(ids('experiment: a\n'));
    expect(ids('experiment: a\ndataset: { where: { glasses: false } }\n')).not.toEqual(ids('experiment: a\n'));
  });

  it('match variantId of the resolved settings', () => {
    for (const variant of parseSpec(QUICKSTART, 'q.yaml').variants) expect(variant.id).toBe(variantId(variant.settings));
  });
});

describe('withBackend', () => {
  it('returns a copy on the other backend with the same id', () => {
    const settings = structuredClone(DEFAULT_SETTINGS);
    const onCpu = withBackend(settings, 'cpu');
    expect(onCpu.engine.backend).toBe('cpu');
    expect(settings.engine.backend).toBe('auto');
    expect(onCpu.dataset.where).not.toBe(settings.dataset.where);
    expect(variantId(onCpu)).toBe(variantId(settings));
  });

  it('refuses a backend it does not know', () => {
    expect(() => withBackend(DEFAULT_SETTINGS, 'cuda' as never)).toThrow(/unknown backend "cuda"/);
  });
});

describe('formatVariantTable', () => {
  it('lists id, label and each swept value as compact JSON, in aligned columns', () => {
    const { variants } = parseSpec(QUICKSTART, 'quickstart.yaml');
    const lines = formatVariantTable(variants).split('\n');
    expect(lines).toHaveLength(5);
    expect(lines[0].split(/\s{2,}/)).toEqual(['id', 'label', 'dataset.where', 'train.seed']);
    expect(lines[1].split(/\s{2,}/)).toEqual([variants[0].id, 'gender=male seed=1', '{"gender":"male"}', '1']);
    expect(lines[4].split(/\s{2,}/)).toEqual([variants[3].id, 'where=all seed=2', '{}', '2']);
    const column = (header: string) => lines[0].indexOf(header);
    for (const line of lines.slice(1)) {
      expect(line.indexOf(line.includes('{"gender"') ? '{"gender"' : '{}')).toBe(column('dataset.where'));
      expect(line.slice(column('train.seed')).trim()).toMatch(/^[12]$/);
    }
  });

  it('has only id and label for a spec without sweep', () => {
    const { variants } = parseSpec('experiment: a\n', 'a.yaml');
    expect(formatVariantTable(variants)).toBe(`id            label\n${variants[0].id}  base`);
  });
});
