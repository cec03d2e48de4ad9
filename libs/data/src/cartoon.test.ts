import { svgs } from 'facesjs';
import { describe, expect, it } from 'vitest';
import { cartoonFace, cartoonFaceConfig, cartoonLabels, hairColorOf, skinToneOf } from './cartoon';
import { withMathRandom } from './random';

/** The first path of a feature's SVG template: if it appears in the face's SVG, the feature was drawn. */
function firstPathOf(feature: 'glasses' | 'facialHair' | 'accessories', id: string): string {
  const template = (svgs[feature] as Record<string, string>)[id];
  const match = / d="([^"]+)"/.exec(template);
  if (!match) throw new Error('template has no path');
  return match[1];
}

const SAMPLE = Array.from({ length: 1500 }, (_, index) => ({ index, ...cartoonFaceConfig(index) }));

describe('cartoonFace', () => {
  it('is a pure function of the index', () => {
    for (const index of [0, 1, 77, 12_345]) {
      expect(cartoonFace(index)).toEqual(cartoonFace(index));
    }
    expect(cartoonFace(3).svg).not.toEqual(cartoonFace(4).svg);
  });

  it('does not depend on, nor disturb, Math.random', () => {
    const before = Math.random;
    const a = withMathRandom(() => 0.999, () => cartoonFace(42));
    const b = withMathRandom(() => 0, () => cartoonFace(42));
    expect(a).toEqual(b);
    expect(Math.random).toBe(before);
  });

  it('restores Math.random when the drawing throws', () => {
    const before = Math.random;
    expect(() =>
      withMathRandom(() => 0.5, () => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(Math.random).toBe(before);
    expect(() => cartoonFace(-1)).toThrow(/non-negative integer/);
  });

  it('frames the head in a square, on a plain or a varied background', () => {
    const firstWith = (background: string) => [0, 1, 2, 3, 4, 5, 6, 7].find((i) => cartoonFace(i).labels.background === background)!;
    const plain = cartoonFace(firstWith('plain'));
    expect(plain.labels.background).toBe('plain');
    expect(plain.svg).toMatch(/^<svg [^>]*viewBox="5 120 390 390"/);
    expect(plain.svg).not.toMatch(/^<svg [^>]*width="100%"/);
    expect(plain.svg).toMatch(/<rect x="5" y="120" width="390" height="390" fill="#[0-9a-f]{6}"\/>/);
    const variedIndex = firstWith('varied');
    const varied = cartoonFace(variedIndex);
    expect(varied.labels.background).toBe('varied');
    expect(varied.svg).toContain(`<rect x="5" y="120" width="390" height="390" fill="url(#backdrop-${variedIndex})"/>`);
  });

  it('labels match cartoonLabels, which is what subsets filter on', () => {
    for (const { index, labels } of SAMPLE.slice(0, 50)) {
      expect(cartoonFace(index).labels).toEqual(labels);
      expect(cartoonLabels(index)).toEqual(labels);
    }
  });
});

describe('cartoon labels are truthful', () => {
  const drawn = SAMPLE.slice(0, 200).map((sample) => ({ ...sample, svg: cartoonFace(sample.index).svg }));

  it('glasses: true exactly when real glasses are drawn', () => {
    for (const { face, labels, svg } of drawn) {
      expect(labels.glasses).toBe(face.glasses.id !== 'none');
      if (labels.glasses) {
        expect(face.glasses.id).toMatch(/^glasses/);
        expect(svg).toContain(firstPathOf('glasses', face.glasses.id));
      }
    }
  });

  it('facialHair: true exactly when a beard or moustache is drawn, and only on men', () => {
    for (const { face, labels, svg } of drawn) {
      expect(labels.facialHair).toBe(face.facialHair.id !== 'none');
      if (labels.facialHair) {
        expect(labels.gender).toBe('male');
        expect(face.facialHair.id).not.toMatch(/sideburns/);
        expect(svg).toContain(firstPathOf('facialHair', face.facialHair.id));
      }
    }
  });

  it('hat: true exactly when a hat is drawn; no other accessory is ever drawn', () => {
    for (const { face, labels, svg } of drawn) {
      expect(['none', 'hat', 'hat2', 'hat3']).toContain(face.accessories.id);
      expect(labels.hat).toBe(face.accessories.id !== 'none');
      if (labels.hat) expect(svg).toContain(firstPathOf('accessories', face.accessories.id));
    }
  });

  it('background: varied exactly when a gradient and shapes are drawn behind the face', () => {
    for (const { index, labels, svg } of drawn) {
      const varied = labels.background === 'varied';
      expect(svg.includes(`<linearGradient id="backdrop-${index}"`)).toBe(varied);
      expect(svg.includes(`fill="url(#backdrop-${index})"`)).toBe(varied);
    }
  });

  it('skin tone and hair colour come from the colours drawn', () => {
    for (const { face, labels, svg } of drawn) {
      expect(svg).toContain(face.body.color);
      expect(svg).toContain(face.hair.color);
      expect(labels.skinTone).toBe(skinToneOf(face.body.color));
      expect(labels.hairColor).toBe(hairColorOf(face.hair.color));
    }
  });

  it('buckets facesjs skin palettes by lightness', () => {
    // facesjs 5.0.3's skin palettes per race (generate.js, not exported by the package).
    const skin = {
      white: ['#f2d6cb', '#ddb7a0'],
      asian: ['#fedac7', '#f0c5a3', '#eab687'],
      brown: ['#bb876f', '#aa816f', '#a67358'],
      black: ['#ad6453', '#74453d', '#5c3937'],
    };
    expect([...skin.white, ...skin.asian].map(skinToneOf)).toEqual(Array(5).fill('light'));
    expect(skin.brown.map(skinToneOf)).toEqual(['medium', 'medium', 'medium']);
    expect(skin.black.map(skinToneOf)).toEqual(['medium', 'dark', 'dark']);
    const drawnSkins = new Set(SAMPLE.map(({ face }) => face.body.color));
    expect([...drawnSkins].sort()).toEqual(Object.values(skin).flat().sort());
  });

  it('every label value appears in a useful share of faces', () => {
    const share = (test: (labels: (typeof SAMPLE)[number]['labels']) => boolean, among = SAMPLE) =>
      among.filter(({ labels }) => test(labels)).length / among.length;
    const men = SAMPLE.filter(({ labels }) => labels.gender === 'male');
    expect(share((l) => l.gender === 'male')).toBeCloseTo(0.5, 1);
    expect(share((l) => l.glasses)).toBeCloseTo(0.3, 1);
    expect(share((l) => l.hat)).toBeCloseTo(0.15, 1);
    expect(share((l) => l.background === 'varied')).toBeCloseTo(0.4, 1);
    expect(share((l) => l.facialHair, men)).toBeCloseTo(0.4, 1);
    for (const tone of ['light', 'medium', 'dark'] as const) expect(share((l) => l.skinTone === tone)).toBeGreaterThan(0.1);
    for (const hair of ['black', 'brown', 'blonde', 'red', 'gray'] as const) expect(share((l) => l.hairColor === hair)).toBeGreaterThan(0.05);
  });
});
