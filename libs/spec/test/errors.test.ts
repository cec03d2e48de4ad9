import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadSpec, SpecError, SWEEPABLE_PATHS } from '../src/index';
import { issuesOf, positionOf, yaml } from './helpers';

describe('spec errors', () => {
  it('points at a resolution that is not a multiple of 32 and says which values are allowed', () => {
    const text = yaml('experiment: a', 'model:', '  width: 0.5', '  resolution: 100');
    expect(issuesOf(text, 'exp/a.yaml')).toEqual([
      {
        file: 'exp/a.yaml',
        line: 4,
        column: 15,
        path: 'model.resolution',
        message: 'resolution 100 must be a multiple of 32 (32, 64, 96, 128, …, 256)',
      },
    ]);
  });

  it('rejects a resolution that is a multiple of 32 but too large', () => {
    const [issue] = issuesOf('experiment: a\nmodel: { resolution: 512 }\n');
    expect(issue.message).toBe('resolution 512 must be a multiple of 32 (32, 64, 96, 128, …, 256)');
  });

  it('names the wrong value and the allowed range for a wrong type', () => {
    const text = 'experiment: a\ntrain: { epochs: 4, batchSize: "big" }\n';
    expect(issuesOf(text)).toEqual([
      {
        file: 'spec.yaml',
        ...positionOf(text, '"big"'),
        path: 'train.batchSize',
        message: 'batchSize "big" must be an integer from 1 to 1024',
      },
    ]);
  });

  it.each([
    ['model: { width: 0 }', 'width 0 must be a number, greater than 0 and at most 2'],
    ['model: { dropout: 1 }', 'dropout 1 must be a number, at least 0 and less than 1'],
    ['train: { learningRate: 1.5 }', 'learningRate 1.5 must be a number, greater than 0 and less than 1'],
    ['train: { epochs: 2.5 }', 'epochs 2.5 must be an integer, at least 1'],
    ['engine: { backend: cuda }', 'backend "cuda" must be one of: auto, tensorflow, webgpu, wasm, cpu'],
    ['engine: { threads: all }', 'threads "all" must be auto or an integer from 1 to 8'],
    ['engine: { threads: 16 }', 'threads 16 must be auto or an integer from 1 to 8'],
    ['judge: { samples: 4 }', 'samples 4 must be an integer, at least 8'],
    ['judge: { every: 0 }', 'every 0 must be an integer, at least 1'],
    ['dataset: { source: photos }', 'source "photos" must be one of: cartoon, utkface, celeba, folder'],
    ['dataset: { channels: 2 }', 'channels 2 must be one of: 3, 1'],
    ['dataset: { crop: square }', 'crop "square" must be one of: center, face'],
    ['dataset: { source: utkface, path: x, where: { age: old } }', 'age "old" must be an integer or a range {min, max}'],
    ['dataset: { source: folder, path: x, where: { smile: [1, 2] } }', 'smile [1,2] must be text, a number, true/false or a range {min, max}'],
    ['dataset: { where: { glasses: yes } }', 'glasses "yes" must be true or false'],
    ['dataset: { size: }', 'size is empty but must be an integer, at least 1'],
    ['model: 3', 'model 3 must be a map with keys from: resolution, width, dropout, latentDim'],
  ])('explains a bad value: %s', (line, message) => {
    expect(issuesOf(`experiment: a\n${line}\n`).map((issue) => issue.message)).toEqual([message]);
  });

  it('rejects an experiment name that is not a plain lowercase name', () => {
    const [issue] = issuesOf('experiment: My Experiment\n');
    expect(issue).toMatchObject({ path: 'experiment', line: 1, column: 13 });
    expect(issue.message).toBe('experiment "My Experiment" must be lowercase letters, digits, "-" or "_", starting with a letter or digit');
  });

  it('points at the map that lacks a required key', () => {
    expect(issuesOf('\n\nmodel: { width: 1 }\n')).toEqual([
      { file: 'spec.yaml', line: 3, column: 1, path: 'experiment', message: 'missing required key "experiment"' },
    ]);
  });

  it('rejects an empty file', () => {
    expect(issuesOf('').map((issue) => issue.message)).toEqual([expect.stringContaining('the spec is empty but must be a map')]);
  });

  it('points at an unknown key at the top level, listing the allowed keys', () => {
    const text = 'experiment: a\nmodels: { width: 1 }\n';
    expect(issuesOf(text)).toEqual([
      {
        file: 'spec.yaml',
        line: 2,
        column: 1,
        path: 'models',
        message: 'unknown key "models", did you mean "model"? (allowed: experiment, description, dataset, model, train, engine, judge, sweep)',
      },
    ]);
  });

  it('points at an unknown nested key', () => {
    const text = 'experiment: a\nmodel: { resolution: 64, resolutoin: 32 }\n';
    expect(issuesOf(text)).toEqual([
      {
        file: 'spec.yaml',
        ...positionOf(text, 'resolutoin'),
        path: 'model.resolutoin',
        message: 'unknown key "resolutoin" in model, did you mean "resolution"? (allowed: resolution, width, dropout, latentDim)',
      },
    ]);
  });

  it('points at a label the source does not have, listing its labels', () => {
    const text = yaml('experiment: a', 'dataset:', '  where:', '    gender: male', '    beard: true');
    expect(issuesOf(text)).toEqual([
      {
        file: 'spec.yaml',
        line: 5,
        column: 5,
        path: 'dataset.where.beard',
        message: '"beard" is not a label of source cartoon (labels: gender, glasses, facialHair, hat, skinTone, hairColor, background)',
      },
    ]);
    const utk = yaml('experiment: a', 'dataset:', '  source: utkface', '  path: photos', '  where: { glasses: true, Age: 3 }');
    expect(issuesOf(utk).map((issue) => [issue.path, issue.message])).toEqual([
      ['dataset.where.glasses', '"glasses" is not a label of source utkface (labels: age, gender, race)'],
      ['dataset.where.Age', '"Age" is not a label of source utkface, did you mean "age"? (labels: age, gender, race)'],
    ]);
  });

  it('points at an unknown sweep path and names the sweepable ones', () => {
    const text = yaml('experiment: a', 'sweep:', '  train.seed: [1, 2]', '  model.depth: [1, 2]');
    const [issue] = issuesOf(text);
    expect(issue).toMatchObject({ line: 4, column: 3, path: 'sweep["model.depth"]' });
    expect(issue.message).toMatch(/^unknown sweep path "model.depth" \(sweepable: dataset, /);
    for (const path of SWEEPABLE_PATHS) expect(issue.message).toContain(path);
  });

  it('refuses to sweep the backend, which is not part of what a variant is', () => {
    const [issue] = issuesOf(yaml('experiment: a', 'sweep:', '  engine.backend: [cpu, wasm]'));
    expect(issue.path).toBe('sweep["engine.backend"]');
    expect(issue.message).toContain('cannot be swept');
  });

  it('refuses to sweep the judge, which measures variants', () => {
    const [issue] = issuesOf(yaml('experiment: a', 'sweep:', '  judge.samples: [64, 512]'));
    expect(issue.path).toBe('sweep["judge.samples"]');
    expect(issue.message).toContain('"judge.samples" cannot be swept');
  });

  it('points at the line of a bad sweep item and validates it as the setting it replaces', () => {
    const text = yaml('experiment: a', 'sweep:', '  model.resolution:', '    - 32', '    - 100', '    - 64');
    expect(issuesOf(text)).toEqual([
      {
        file: 'spec.yaml',
        line: 5,
        column: 7,
        path: 'sweep["model.resolution"][1]',
        message: 'resolution 100 must be a multiple of 32 (32, 64, 96, 128, …, 256)',
      },
    ]);
  });

  it('validates a swept where filter like the base one', () => {
    const text = 'experiment: a\nsweep:\n  dataset.where: [{}, { gender: man }]\n';
    expect(issuesOf(text)).toEqual([
      {
        file: 'spec.yaml',
        ...positionOf(text, 'man }'),
        path: 'sweep["dataset.where"][1].gender',
        message: 'gender "man" must be one of: male, female',
      },
    ]);
  });

  it('requires sweep values to be a non-empty list', () => {
    const issues = issuesOf(yaml('experiment: a', 'sweep:', '  train.seed: 3', '  model.width: []'));
    expect(issues.map((issue) => issue.message)).toEqual([
      'the values of train.seed must be a non-empty list, found 3',
      'the values of model.width must be a non-empty list, found []',
    ]);
  });

  it('rejects a sweep value that repeats another', () => {
    const text = yaml('experiment: a', 'sweep:', '  train.seed: [1, 2, 1]');
    expect(issuesOf(text)).toEqual([
      expect.objectContaining({
        ...positionOf(text, '1]'),
        path: 'sweep["train.seed"][2]',
        message: expect.stringMatching(/^1 gives the same variant as item 0 \([0-9a-f]{12}\)/),
      }),
    ]);
  });

  it('rejects a swept section value that only restates the base', () => {
    const [issue] = issuesOf(yaml('experiment: a', 'sweep:', '  model: [{}, { resolution: 96 }]'));
    expect(issue).toMatchObject({ line: 3, column: 15, path: 'sweep.model[1]' });
    expect(issue.message).toMatch(/^\{"resolution":96\} gives the same variant as item 0/);
  });

  it('rejects sweeping a path and a path inside it', () => {
    const [issue] = issuesOf(yaml('experiment: a', 'sweep:', '  dataset.where: [{}]', '  dataset.where.gender: [male]'));
    expect(issue).toMatchObject({ line: 4, column: 3, path: 'sweep["dataset.where.gender"]' });
    expect(issue.message).toContain('overlaps "dataset.where"');
  });

  it('turns YAML syntax errors into located issues', () => {
    const issues = issuesOf('experiment: a\nmodel: { resolution: 32\ntrain: [\n');
    expect(issues.length).toBeGreaterThan(0);
    expect(issues[0].line).toBeGreaterThanOrEqual(2);
    expect(issues[0].message).toMatch(/^YAML syntax error: /);
    expect(issuesOf('experiment: a\n---\nexperiment: b\n')).toEqual([
      expect.objectContaining({ line: 2, column: 1, message: expect.stringContaining('a second one starts here') }),
    ]);
    expect(issuesOf('experiment: a\nexperiment: b\n')).toEqual([
      expect.objectContaining({ line: 2, column: 1, message: expect.stringMatching(/^YAML syntax error: .*unique/) }),
    ]);
  });

  it('rejects a batch larger than the dataset, at the value that makes it so', () => {
    const base = 'experiment: a\ndataset: { size: 16 }\ntrain: { batchSize: 32 }\n';
    expect(issuesOf(base)).toEqual([
      {
        file: 'spec.yaml',
        ...positionOf(base, '32'),
        path: 'train.batchSize',
        message: 'batchSize 32 is larger than dataset.size 16: a batch cannot hold more images than the dataset',
      },
    ]);
    const defaultBatch = 'experiment: a\ndataset: { size: 16 }\n';
    expect(issuesOf(defaultBatch)[0]).toMatchObject({ ...positionOf(defaultBatch, '16'), path: 'dataset.size' });
    const swept = yaml('experiment: a', 'sweep:', '  dataset.size: [100, 8, 12]');
    expect(issuesOf(swept).map(({ line, column, path }) => ({ line, column, path }))).toEqual([
      { ...positionOf(swept, '8'), path: 'sweep["dataset.size"][1]' },
      { ...positionOf(swept, '12'), path: 'sweep["dataset.size"][2]' },
    ]);
  });

  it('lists every issue in the message, one per line, in file order', () => {
    const text = yaml('experiment: a', 'model: { resolution: 100 }', 'train: { batchSize: 0 }');
    let thrown: unknown;
    try {
      loadSpecFrom(text);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(SpecError);
    const { message, issues } = thrown as SpecError;
    expect(issues.map((issue) => issue.line)).toEqual([2, 3]);
    expect(message.split('\n')).toEqual([
      `${issues[0].file}:2:22: model.resolution: resolution 100 must be a multiple of 32 (32, 64, 96, 128, …, 256)`,
      `${issues[0].file}:3:21: train.batchSize: batchSize 0 must be an integer from 1 to 1024`,
    ]);
  });
});

describe('loadSpec', () => {
  it('reads a spec file', () => {
    const spec = loadSpecFrom('experiment: from-disk\ntrain: { seed: 3 }\n');
    expect(spec.name).toBe('from-disk');
    expect(spec.variants[0].settings.train.seed).toBe(3);
  });

  it('reports a missing file as a SpecError', () => {
    const file = join(tmpdir(), 'facegan-no-such-spec.yaml');
    expect(() => loadSpec(file)).toThrow(SpecError);
    expect(() => loadSpec(file)).toThrow(`${file}:1:1: cannot read the spec file: no such file`);
  });
});

function loadSpecFrom(text: string) {
  const file = join(mkdtempSync(join(tmpdir(), 'facegan-spec-')), 'spec.yaml');
  writeFileSync(file, text);
  return loadSpec(file);
}
