import { expect } from 'vitest';
import { parseSpec, SpecError, type SpecIssue } from '../src/index';

/** The issues `parseSpec` throws for `text`; fails the test when it does not throw a SpecError. */
export function issuesOf(text: string, file = 'spec.yaml'): SpecIssue[] {
  try {
    parseSpec(text, file);
  } catch (error) {
    expect(error).toBeInstanceOf(SpecError);
    return (error as SpecError).issues;
  }
  throw new Error('expected parseSpec to throw a SpecError');
}

/** 1-based line and column of the `occurrence`-th (0-based) `needle` in `text`. */
export function positionOf(text: string, needle: string, occurrence = 0): { line: number; column: number } {
  let offset = -1;
  for (let found = 0; found <= occurrence; found++) {
    offset = text.indexOf(needle, offset + 1);
    if (offset < 0) throw new Error(`"${needle}" occurs fewer than ${occurrence + 1} times`);
  }
  const before = text.slice(0, offset).split('\n');
  return { line: before.length, column: before[before.length - 1].length + 1 };
}

/** Joins lines, so specs in tests keep their YAML indentation readable. */
export function yaml(...lines: string[]): string {
  return `${lines.join('\n')}\n`;
}
