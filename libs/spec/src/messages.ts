import type { ErrorObject } from 'ajv';
import { formatPath, pointerToPath, type Segment } from './paths';
import { SWEEPABLE_PATHS } from './schema';

/** A problem in plain words, not yet located in the file. */
export interface Finding {
  path: Segment[];
  /** `key`: point at the key itself (unknown keys); `parent`: at the map that lacks it (missing keys). */
  at: 'value' | 'key' | 'parent';
  message: string;
}

interface SubSchema {
  type?: string | string[];
  enum?: unknown[];
  pattern?: string;
  properties?: Record<string, unknown>;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  multipleOf?: number;
  anyOf?: SubSchema[];
  $ref?: string;
}

const EXPERIMENT_NAME_PATTERN = '^[a-z0-9][a-z0-9_-]*$';

/** Turns ajv's errors into one finding per offending value or key. */
export function describeSchemaErrors(errors: readonly ErrorObject[], data: unknown): Finding[] {
  const findings: Finding[] = [];
  const valueErrors = new Map<string, ErrorObject>();
  for (const error of errors) {
    const path = pointerToPath(error.instancePath, data);
    if (error.keyword === 'additionalProperties') {
      const key = String(error.params.additionalProperty);
      findings.push({ path: [...path, key], at: 'key', message: unknownKeyMessage(path, key, error.parentSchema) });
    } else if (error.keyword === 'required') {
      const key = String(error.params.missingProperty);
      findings.push({ path: [...path, key], at: 'parent', message: `missing required key "${key}"` });
    } else if (error.keyword === 'anyOf' || !valueErrors.has(error.instancePath)) {
      // anyOf: its branches failed one by one; the anyOf error itself names all the alternatives.
      // A value can break several rules (type and range...); one message states them all.
      valueErrors.set(error.instancePath, error);
    }
  }
  for (const error of valueErrors.values()) {
    const path = pointerToPath(error.instancePath, data);
    findings.push({ path, at: 'value', message: valueMessage(path, error.data, error.parentSchema as SubSchema) });
  }
  return findings;
}

function unknownKeyMessage(parent: Segment[], key: string, parentSchema: unknown): string {
  const allowed = Object.keys((parentSchema as SubSchema | undefined)?.properties ?? {});
  if (parent.length === 1 && parent[0] === 'sweep') {
    if (key === 'engine' || key.startsWith('engine.')) {
      return `"${key}" cannot be swept: the engine is how variants are trained, not what they are (run the spec once per backend)`;
    }
    if (key === 'judge' || key.startsWith('judge.')) {
      return `"${key}" cannot be swept: the judge measures variants, it is not part of what they are`;
    }
    return `unknown sweep path "${key}"${didYouMean(key, allowed)} (sweepable: ${SWEEPABLE_PATHS.join(', ')})`;
  }
  const where = parent.length ? ` in ${formatPath(parent)}` : '';
  return `unknown key "${key}"${where}${didYouMean(key, allowed)} (allowed: ${allowed.join(', ')})`;
}

export function didYouMean(key: string, candidates: readonly string[]): string {
  const close = candidates.find((candidate) => editDistance(key.toLowerCase(), candidate.toLowerCase()) <= 2);
  return close ? `, did you mean "${close}"?` : '';
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length];
}

function valueMessage(path: Segment[], value: unknown, schema: SubSchema): string {
  if (path[0] === 'sweep' && path.length === 2) {
    return `the values of ${path[1]} must be a non-empty list, found ${value === null ? 'nothing' : formatFound(value)}`;
  }
  const subject = subjectOf(path);
  const rule = describeRule(schema);
  if (value === null || value === undefined) return `${subject} is empty but ${rule}`;
  return `${subject} ${formatFound(value)} ${rule}`;
}

/** What the value is called in a message: the setting's name (`resolution`), also for a sweep item. */
function subjectOf(path: Segment[]): string {
  if (path.length === 0) return 'the spec';
  const last = path[path.length - 1];
  if (typeof last === 'string') return last;
  if (path[0] === 'sweep' && path.length === 3) return String(path[1]).split('.').pop() as string;
  return formatPath(path);
}

function formatFound(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function describeRule(schema: SubSchema): string {
  if (schema.anyOf) return `must be ${listAlternatives(schema.anyOf.map(describeAlternative))}`;
  if (schema.enum) return `must be one of: ${schema.enum.map((option) => String(option)).join(', ')}`;
  // `["object", "null"]`: null is allowed, so the rule is about the other type.
  const type = Array.isArray(schema.type) ? schema.type.find((name) => name !== 'null') : schema.type;
  switch (type) {
    case 'boolean':
      return 'must be true or false';
    case 'string':
      if (schema.pattern === EXPERIMENT_NAME_PATTERN) {
        return 'must be lowercase letters, digits, "-" or "_", starting with a letter or digit';
      }
      return schema.pattern ? `must be text matching ${schema.pattern}` : 'must be text';
    case 'integer':
    case 'number':
      return numberRule(schema);
    case 'object':
      return schema.properties ? `must be a map with keys from: ${Object.keys(schema.properties).join(', ')}` : 'must be a map';
    case 'array':
      return 'must be a non-empty list of values';
    default:
      return 'is not allowed here';
  }
}

/** A branch of an anyOf, as a noun: `an integer`, `a range {min, max}`. */
function describeAlternative(branch: SubSchema): string {
  if (branch.$ref?.endsWith('/labelRange')) return 'a range {min, max}';
  if (branch.enum) return listAlternatives(branch.enum.map((option) => String(option)));
  switch (branch.type) {
    case 'integer':
      return branch.maximum === undefined ? 'an integer' : numberRule(branch).replace(/^must be /, '');
    case 'string':
      return 'text';
    case 'boolean':
      return 'true/false';
    case 'number':
      return 'a number';
    default:
      return branch.$ref ? (branch.$ref.split('/').pop() as string) : 'something else';
  }
}

function listAlternatives(alternatives: string[]): string {
  return alternatives.length < 2 ? alternatives.join('') : `${alternatives.slice(0, -1).join(', ')} or ${alternatives[alternatives.length - 1]}`;
}

function numberRule(schema: SubSchema): string {
  const { minimum, maximum, exclusiveMinimum, exclusiveMaximum, multipleOf } = schema;
  if (multipleOf !== undefined) {
    const first = Math.ceil((minimum ?? multipleOf) / multipleOf) * multipleOf;
    const last = maximum === undefined ? Infinity : Math.floor(maximum / multipleOf) * multipleOf;
    const examples: string[] = [];
    for (let value = first; value <= last && examples.length < 4; value += multipleOf) examples.push(String(value));
    if (first + 4 * multipleOf <= last) examples.push(Number.isFinite(last) ? `…, ${last}` : '…');
    return `must be a multiple of ${multipleOf} (${examples.join(', ')})`;
  }
  const kind = schema.type === 'integer' ? 'an integer' : 'a number';
  if (minimum !== undefined && maximum !== undefined) return `must be ${kind} from ${minimum} to ${maximum}`;
  const bounds = [
    minimum !== undefined && `at least ${minimum}`,
    exclusiveMinimum !== undefined && `greater than ${exclusiveMinimum}`,
    maximum !== undefined && `at most ${maximum}`,
    exclusiveMaximum !== undefined && `less than ${exclusiveMaximum}`,
  ].filter(Boolean);
  return `must be ${kind}${bounds.length ? `, ${bounds.join(' and ')}` : ''}`;
}
