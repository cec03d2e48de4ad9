import { describe, expect, it } from 'vitest';
import { compositionCounts, DEFAULT_SETTINGS, parseSpec, variantId } from '../src/index';
import { issuesOf, positionOf, yaml } from './helpers';

const settingsOf = (text: string) => parseSpec(text, 'spec.yaml').variants.map((variant) => variant.settings.dataset);
const messagesOf = (text: string) => issuesOf(text).map((issue) => `${issue.path}: ${issue.message}`);

describe('dataset settings', () => {
  it('fills channels, flip and crop from the defaults and leaves path and compose out', () => {
    expect(settingsOf('experiment: a\n')[0]).toEqual({
      source: 'cartoon',
      size: 1200,
      where: {},
      seed: 1,
      channels: 3,
      flip: false,
      crop: 'center',
    });
  });

  it('keeps the ids of specs written before channels, flip and crop existed, and changes them when they are set', () => {
    const ids = (text: string) => parseSpec(text, 'spec.yaml').variants.map((variant) => variant.id);
    const before = ids('experiment: a\ndataset: { size: 64 }\n');
    expect(ids('experiment: a\ndataset: { size: 64, channels: 3, flip: false, crop: center }\n')).toEqual(before);
    expect(variantId(DEFAULT_SETTINGS)).toBe('a77a6ee696a3');
    const changed = ['channels: 1', 'flip: true'].map((setting) => ids(`experiment: a\ndataset: { size: 64, ${setting} }\n`)[0]);
    expect(new Set([before[0], ...changed]).size).toBe(3);
  });

  it('accepts every source with a path, and the labels of each', () => {
    const [utk] = settingsOf(yaml('experiment: a', 'dataset:', '  source: utkface', '  path: ../photos', '  where: { gender: female, age: { min: 18, max: 60 }, race: asian }'));
    expect(utk).toMatchObject({ source: 'utkface', path: '../photos', where: { gender: 'female', age: { min: 18, max: 60 }, race: 'asian' } });
    const [celeba] = settingsOf(yaml('experiment: a', 'dataset: { source: celeba, path: /data/celeba, crop: face, where: { Eyeglasses: true, 5_o_Clock_Shadow: false, glasses: true } }'));
    expect(celeba.where).toEqual({ Eyeglasses: true, '5_o_Clock_Shadow': false, glasses: true });
    const [folder] = settingsOf(yaml('experiment: a', 'dataset: { source: folder, path: mine, crop: face, where: { smile: 2, mood: happy, score: { min: 0.5 } } }'));
    expect(folder.where).toEqual({ smile: 2, mood: 'happy', score: { min: 0.5 } });
  });

  it('requires a path for every source but cartoon, and refuses one for cartoon', () => {
    const missing = yaml('experiment: a', 'dataset:', '  source: celeba', '  size: 100');
    expect(issuesOf(missing)).toEqual([
      { file: 'spec.yaml', ...positionOf(missing, 'celeba'), path: 'dataset.source', message: 'source celeba needs dataset.path, the folder of its images' },
    ]);
    expect(messagesOf('experiment: a\ndataset: { path: faces }\n')).toEqual([
      'dataset.path: cartoon faces are drawn, not read from a folder: remove path (or pick source utkface, celeba or folder)',
    ]);
  });

  it('allows crop: face only where the source gives face boxes', () => {
    expect(messagesOf('experiment: a\ndataset: { source: utkface, path: p, crop: face }\n')).toEqual([
      expect.stringMatching(/^dataset\.crop: crop face needs face boxes, which only celeba \(list_landmarks_align_celeba\.txt\) and folder .* utkface images are face crops already: use crop center$/),
    ]);
    expect(messagesOf('experiment: a\ndataset: { crop: face }\n')).toHaveLength(1);
  });

  it('checks label values the schema cannot type: CelebA attributes, ranges', () => {
    expect(messagesOf('experiment: a\ndataset: { source: celeba, path: p, where: { Smiling: yes } }\n')).toEqual([
      'dataset.where.Smiling: Smiling "yes" must be true or false',
    ]);
    expect(messagesOf('experiment: a\ndataset: { source: utkface, path: p, where: { age: { min: 60, max: 18 } } }\n')).toEqual([
      'dataset.where.age: age range is empty: min 60 is above max 18',
    ]);
    expect(messagesOf('experiment: a\ndataset: { source: cartoon, where: { Eyeglasses: true } }\n')).toEqual([
      expect.stringMatching(/^dataset\.where\.Eyeglasses: "Eyeglasses" is not a label of source cartoon/),
    ]);
    expect(messagesOf('experiment: a\ndataset: { where: { gender: { min: 1 } } }\n')).toEqual([
      expect.stringMatching(/^dataset\.where\.gender: gender .* must be one of: male, female/),
    ]);
  });

  it('locates label problems inside swept values', () => {
    const text = yaml('experiment: a', 'sweep:', '  dataset.where:', '    - { gender: male }', '    - { beard: true }');
    expect(issuesOf(text)).toEqual([
      expect.objectContaining({ ...positionOf(text, 'beard'), path: 'sweep["dataset.where"][1].beard' }),
    ]);
    const sections = yaml('experiment: a', 'sweep:', '  dataset:', '    - { source: cartoon }', '    - { source: utkface }');
    expect(issuesOf(sections)).toEqual([
      expect.objectContaining({ ...positionOf(sections, 'utkface'), path: 'sweep.dataset[1].source', message: 'source utkface needs dataset.path, the folder of its images' }),
    ]);
  });
});

describe('compose', () => {
  const GLASSES_BIAS = yaml(
    'experiment: glasses-bias',
    'dataset:',
    '  size: 1000',
    '  compose:',
    '    parts:',
    '      - { where: { glasses: true }, share: 0.9 }',
    '      - { where: { glasses: false }, share: 0.1 }',
  );

  it('parses parts with shares or counts', () => {
    expect(settingsOf(GLASSES_BIAS)[0].compose).toEqual({
      parts: [
        { where: { glasses: true }, share: 0.9 },
        { where: { glasses: false }, share: 0.1 },
      ],
    });
  });

  it('splits the size exactly: counts as written, shares rounded by largest remainder', () => {
    expect(compositionCounts(1000, [{ where: {}, share: 0.9 }, { where: {}, share: 0.1 }])).toEqual([900, 100]);
    expect(compositionCounts(100, [{ where: {}, share: 1 / 3 }, { where: {}, share: 1 / 3 }, { where: {}, share: 1 / 3 }])).toEqual([34, 33, 33]);
    expect(compositionCounts(10, [{ where: {}, share: 0.25 }, { where: {}, share: 0.75 }])).toEqual([3, 7]);
    expect(compositionCounts(50, [{ where: {}, count: 20 }, { where: {}, share: 0.6 }])).toEqual([20, 30]);
    expect(compositionCounts(7, [{ where: {}, count: 3 }, { where: {}, count: 4 }])).toEqual([3, 4]);
  });

  it('refuses parts that do not add up to the size, at the parts', () => {
    const text = GLASSES_BIAS.replace('share: 0.1', 'share: 0.05');
    expect(issuesOf(text)).toEqual([
      {
        file: 'spec.yaml',
        ...positionOf(text, '- {'),
        path: 'dataset.compose.parts',
        message: 'the parts add up to 950 images (0.9 × 1000 + 0.05 × 1000), but size is 1000',
      },
    ]);
    expect(() => compositionCounts(10, [{ where: {}, count: 4 }, { where: {}, count: 4 }])).toThrow('the parts add up to 8 images (4 + 4), but size is 10');
  });

  it('needs exactly one of share or count per part, and no empty part', () => {
    expect(messagesOf(GLASSES_BIAS.replace('share: 0.1', 'share: 0.1, count: 100'))).toEqual([
      'dataset.compose.parts: part 1 needs exactly one of share (a fraction of size) or count',
    ]);
    expect(() => compositionCounts(10, [{ where: {}, share: 0.99 }, { where: {}, share: 0.01 }])).toThrow('part 1 gets no image');
  });

  it('checks the labels of each part against the source', () => {
    const text = GLASSES_BIAS.replace('{ glasses: false }', '{ glases: false }');
    expect(issuesOf(text)).toEqual([
      expect.objectContaining({
        ...positionOf(text, 'glases'),
        path: 'dataset.compose.parts[1].where.glases',
        message: expect.stringContaining('"glases" is not a label of source cartoon, did you mean "glasses"?'),
      }),
    ]);
  });

  it('refuses a part filter that contradicts the dataset filter', () => {
    const text = GLASSES_BIAS.replace('  size: 1000', '  size: 1000\n  where: { gender: male, glasses: true }');
    expect(issuesOf(text)).toEqual([
      expect.objectContaining({
        ...positionOf(text, 'false'),
        path: 'dataset.compose.parts[1].where.glasses',
        message: 'glasses false contradicts dataset.where, which sets true: a part only narrows the dataset\'s filter',
      }),
    ]);
  });

  it('can be swept, a whole composition per value', () => {
    const spec = parseSpec(
      yaml('experiment: a', 'dataset: { size: 10 }', 'train: { batchSize: 5 }', 'sweep:', '  dataset.compose:', '    - { parts: [ { where: { hat: true }, count: 10 } ] }', '    - { parts: [ { where: { hat: false }, share: 1 } ] }'),
      'a.yaml',
    );
    expect(spec.variants.map((variant) => variant.settings.dataset.compose?.parts[0].where)).toEqual([{ hat: true }, { hat: false }]);
    expect(new Set(spec.variants.map((variant) => variant.id)).size).toBe(2);
  });
});
