import { MAX_RUN_PAGE, RUN_COLUMNS, type RunCondition, type RunConditionOp, type RunField, type RunFields, type RunQuery } from '@facegan/store';

/** The runs table's URL parameters (`/api/runs?q=…&sort=…`), as the client sends them. */
export interface RunQueryParams {
  /** Filter text: words, and conditions such as `status=done gender=male dropout<0.5 g_loss<1.2 label~"lr 2"`. */
  q?: string;
  sort?: string;
  order?: string;
  group?: string;
  offset?: string;
  limit?: string;
}

export class QueryError extends Error {}

const condition = /^([A-Za-z0-9_.-]+)(!=|<=|>=|=|<|>|~)(.*)$/s;
const number = /^-?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i;

/** Splits on spaces, keeping "quoted parts" together (quotes removed). */
export function tokenize(text: string): string[] {
  const tokens: string[] = [];
  for (const match of text.matchAll(/(?:"[^"]*"?|[^\s"])+/g)) tokens.push(match[0].replace(/"/g, ''));
  return tokens;
}

/**
 * A field as users type it, to the store's name for it: `status` and the other run columns; `settings.…` and
 * `metrics.…` as they are; a metric name (`g_loss`); a full setting path (`model.dropout`) or its last key when only
 * one path ends with it (`dropout`).
 */
export function resolveField(name: string, fields: RunFields): RunField {
  if ((RUN_COLUMNS as readonly string[]).includes(name)) return name as RunField;
  if (name.startsWith('settings.') || name.startsWith('metrics.')) return name as RunField;
  if (fields.metrics.includes(name)) return `metrics.${name}`;
  const paths = fields.settings.map((setting) => setting.path);
  if (paths.includes(name)) return `settings.${name}`;
  const endingWith = paths.filter((path) => path.endsWith(`.${name}`));
  if (endingWith.length === 1) return `settings.${endingWith[0]}`;
  if (endingWith.length > 1) throw new QueryError(`"${name}" is ambiguous: ${endingWith.join(', ')}`);
  if (name.includes('.')) return `settings.${name}`;
  throw new QueryError(`Unknown field "${name}": a run column (${RUN_COLUMNS.join(', ')}), a setting path or a metric name`);
}

function wholeNumber(raw: string | undefined, fallback: number, what: string, max = Number.MAX_SAFE_INTEGER): number {
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d{1,9}$/.test(raw) || Number(raw) > max) throw new QueryError(`${what} must be a whole number up to ${max}`);
  return Number(raw);
}

export function parseRunQuery(params: RunQueryParams, fields: RunFields): RunQuery {
  const words: string[] = [];
  const where: RunCondition[] = [];
  for (const token of tokenize(params.q ?? '')) {
    const match = condition.exec(token);
    if (!match) {
      words.push(token);
      continue;
    }
    const [, name, op, raw] = match;
    where.push({ field: resolveField(name, fields), op: op as RunConditionOp, value: number.test(raw) ? Number(raw) : raw });
  }
  if (params.order !== undefined && params.order !== 'asc' && params.order !== 'desc') {
    throw new QueryError('order must be asc or desc');
  }
  return {
    text: words.join(' '),
    where,
    sort: params.sort ? { field: resolveField(params.sort, fields), descending: params.order === 'desc' } : undefined,
    groupBy: params.group ? resolveField(params.group, fields) : undefined,
    offset: wholeNumber(params.offset, 0, 'offset'),
    limit: wholeNumber(params.limit, 50, 'limit', MAX_RUN_PAGE),
  };
}
