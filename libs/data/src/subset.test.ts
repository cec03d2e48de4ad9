import { describe, expect, it } from 'vitest';
import { cartoonLabels } from './cartoon';
import type { Catalog } from './catalog';
import { cartoonPool, catalogPool, countLabels, matchesFilter, partsOf } from './subset';
import type { DatasetItem } from './types';

describe('matchesFilter', () => {
  const labels = { gender: 'female', glasses: true, age: 34, mood: 'calm', smile: true };

  it('needs every key to match (AND); an empty filter and undefined keys constrain nothing', () => {
    expect(matchesFilter(labels, {})).toBe(true);
    expect(matchesFilter(labels, { gender: 'female', glasses: true })).toBe(true);
    expect(matchesFilter(labels, { gender: 'female', glasses: false })).toBe(false);
    expect(matchesFilter(labels, { glasses: undefined })).toBe(true);
    expect(matchesFilter(labels, { smile: 'true' })).toBe(false);
  });

  it('matches ranges inclusively, and only numbers', () => {
    expect(matchesFilter(labels, { age: { min: 18, max: 60 } })).toBe(true);
    expect(matchesFilter(labels, { age: { min: 34, max: 34 } })).toBe(true);
    expect(matchesFilter(labels, { age: { min: 35 } })).toBe(false);
    expect(matchesFilter(labels, { age: { max: 33 } })).toBe(false);
    expect(matchesFilter(labels, { mood: { min: 0 } })).toBe(false);
  });

  it('never matches an image that lacks the label', () => {
    expect(matchesFilter(labels, { race: 'asian' })).toBe(false);
    expect(matchesFilter({}, { age: { min: 0 } })).toBe(false);
  });
});

describe('partsOf', () => {
  it('is the whole set without a composition, and each part with both filters with one', () => {
    expect(partsOf({ size: 10, where: { gender: 'male' } })).toEqual([{ where: { gender: 'male' }, count: 10 }]);
    const compose = { parts: [{ where: { glasses: true }, share: 0.9 }, { where: { glasses: false }, share: 0.1 }] };
    expect(partsOf({ size: 1000, where: { gender: 'female' }, compose })).toEqual([
      { where: { gender: 'female', glasses: true }, count: 900 },
      { where: { gender: 'female', glasses: false }, count: 100 },
    ]);
    expect(() => partsOf({ size: 0, where: {} })).toThrow(/positive integer/);
  });
});

describe('cartoonPool', () => {
  it('gives distinct matching faces in an order fixed by (where, seed, part)', () => {
    const pool = cartoonPool({ gender: 'male' }, 300, 7, 0);
    expect(pool.matched).toBe(2000);
    expect(pool.scope).toMatch(/^ of the first \d+ faces$/);
    const ids = pool.candidates.map((candidate) => candidate.id);
    expect(new Set(ids).size).toBe(2000);
    for (const candidate of pool.candidates.slice(0, 50)) expect(cartoonLabels(candidate.cartoonIndex as number).gender).toBe('male');
    expect(cartoonPool({ gender: 'male' }, 300, 7, 0).candidates.map((c) => c.id)).toEqual(ids);
    expect(cartoonPool({ gender: 'male' }, 300, 8, 0).candidates.slice(0, 20)).not.toEqual(pool.candidates.slice(0, 20));
    expect(cartoonPool({ gender: 'male' }, 300, 7, 1).candidates.slice(0, 20)).not.toEqual(pool.candidates.slice(0, 20));
  });

  it('says how many faces matched when the filter cannot be met', () => {
    const pool = cartoonPool({ gender: 'female', facialHair: true }, 10, 1, 0);
    expect(pool).toMatchObject({ matched: 0, scope: ' of the first 50000 faces', candidates: [] });
  });
});

describe('catalogPool', () => {
  it('takes every matching item of a catalog, shuffled by the seed', () => {
    const items = Array.from({ length: 40 }, (_, index) => ({ id: `${index}.jpg`, file: `/x/${index}.jpg`, labels: { age: index } }));
    const catalog: Catalog = { root: '/x', labels: { age: 'number' }, items, skipped: [] };
    const pool = catalogPool(catalog, { age: { min: 10, max: 29 } }, 5, 3, 0);
    expect(pool.matched).toBe(20);
    expect(pool.scope).toBe(' of 40 images');
    expect(pool.candidates.map((candidate) => candidate.labels.age).sort((a, b) => Number(a) - Number(b))).toEqual(
      Array.from({ length: 20 }, (_, index) => index + 10),
    );
    expect(pool.candidates.map((candidate) => candidate.id)).not.toEqual(items.slice(10, 30).map((item) => item.id));
  });
});

describe('countLabels', () => {
  it('counts every value with zeros, ages by decade in order, and missing labels as unknown', () => {
    const items: DatasetItem[] = [
      { id: 'a', labels: { gender: 'male', age: 34, mood: 'calm' } },
      { id: 'b', labels: { gender: 'male', age: 5 } },
      { id: 'c', labels: { gender: 'male', age: 39, mood: 'calm' } },
    ];
    expect(countLabels(items, { gender: ['male', 'female'], age: 'number', mood: 'any' })).toEqual({
      gender: { male: 3, female: 0 },
      age: { '0-9': 1, '30-39': 2 },
      mood: { calm: 2, unknown: 1 },
    });
    expect(Object.keys(countLabels(items, { age: 'number' }).age)).toEqual(['0-9', '30-39']);
  });
});
