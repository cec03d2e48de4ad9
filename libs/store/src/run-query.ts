import {
  EPOCH_SUMMARY_STEP,
  MAX_RUN_PAGE,
  RUN_COLUMNS,
  type RunColumn,
  type RunCondition,
  type RunConditionOp,
  type RunQuery,
} from './types';

const columnSql: Record<RunColumn, string> = {
  id: 'r.id',
  experiment: 'e.name',
  label: 'r.label',
  variant: 'r.variant_id',
  status: 'r.status',
  backend: 'r.backend',
  device: 'r.device',
  epochs: 'r.epochs_done',
  created: 'r.created_at',
  started: 'r.started_at',
  finished: 'r.finished_at',
};

const conditionOps: readonly RunConditionOp[] = ['=', '!=', '<', '<=', '>', '>=', '~'];
const settingKey = /^[A-Za-z0-9_-]+$/;
const searchedText = `lower(e.name || ' ' || r.label || ' ' || r.variant_id || ' ' || r.status || ' ' ||
  coalesce(r.backend, '') || ' ' || coalesce(r.device, ''))`;
const runsFrom = 'FROM runs r JOIN experiments e ON e.id = r.experiment_id';

/** Bound parameters: every value from the query reaches SQLite as a parameter, never as SQL text. */
class Params {
  readonly values: Record<string, unknown> = {};
  private count = 0;

  add(value: unknown): string {
    const name = `p${++this.count}`;
    this.values[name] = value;
    return `@${name}`;
  }
}

/** A field's SQL value (what sorts, groups and compares) and its text (a setting's JSON text). */
interface FieldSql {
  value: string;
  text: string;
}

function fieldSql(field: string, params: Params): FieldSql {
  if ((RUN_COLUMNS as readonly string[]).includes(field)) {
    const sql = columnSql[field as RunColumn];
    return { value: sql, text: sql };
  }
  if (field.startsWith('settings.')) {
    const keys = field.slice('settings.'.length).split('.');
    if (!keys.every((key) => settingKey.test(key))) {
      throw new RangeError(`Bad setting path "${field}": dotted keys of letters, digits, _ and -`);
    }
    const path = params.add('$' + keys.map((key) => `."${key}"`).join(''));
    return { value: `(r.settings_json ->> ${path})`, text: `(r.settings_json -> ${path})` };
  }
  if (field.startsWith('metrics.') && field.length > 'metrics.'.length) {
    const name = params.add(field.slice('metrics.'.length));
    // NaN is stored as NULL, so a diverged run sorts with the runs that have no value.
    const sql = `(SELECT m.value FROM metrics m
      WHERE m.run_id = r.id AND m.name_id = (SELECT id FROM metric_names WHERE name = ${name})
        AND m.epoch = r.epochs_done AND m.step = ${EPOCH_SUMMARY_STEP})`;
    return { value: sql, text: sql };
  }
  throw new RangeError(`Unknown run field "${field}": use ${RUN_COLUMNS.join(', ')}, settings.<path> or metrics.<name>`);
}

function conditionSql(condition: RunCondition, params: Params): string {
  if (!conditionOps.includes(condition.op)) throw new RangeError(`Unknown operator "${condition.op}"`);
  if (typeof condition.value !== 'number' && typeof condition.value !== 'string') {
    throw new RangeError(`The value of a condition on ${condition.field} must be a number or a string`);
  }
  const field = fieldSql(condition.field, params);
  const value = params.add(condition.value);
  const text = params.add(String(condition.value));
  const equal = `(${field.value} = ${value} OR ${field.text} = ${text})`;
  switch (condition.op) {
    case '=':
      return equal;
    case '!=':
      return `NOT coalesce(${equal}, 0)`;
    case '~':
      return `instr(lower(coalesce(${field.text}, '')), lower(${text})) > 0`;
    default:
      return `${field.value} ${condition.op} ${value}`;
  }
}

export interface RunQuerySql {
  count: string;
  /** null unless the query groups. */
  groups: string | null;
  /** The ids of the page's runs, in order. */
  page: string;
  params: Record<string, unknown>;
}

/** The SQL of `StoreReader.queryRuns`; throws RangeError for a malformed field, operator or page. */
export function runQuerySql(query: RunQuery): RunQuerySql {
  const params = new Params();
  const where: string[] = [];
  for (const word of (query.text ?? '').toLowerCase().split(/\s+/).filter(Boolean)) {
    where.push(`instr(${searchedText}, ${params.add(word)}) > 0`);
  }
  for (const condition of query.where ?? []) where.push(conditionSql(condition, params));
  const filtered = `${runsFrom} ${where.length ? `WHERE ${where.join(' AND ')}` : ''}`;

  const order: string[] = [];
  let groups: string | null = null;
  if (query.groupBy) {
    const group = fieldSql(query.groupBy, params).value;
    order.push(`${group} IS NULL`, group);
    groups = `SELECT ${group} AS value, count(*) AS count ${filtered} GROUP BY 1 ORDER BY value IS NULL, value`;
  }
  if (query.sort) {
    const sort = fieldSql(query.sort.field, params).value;
    order.push(`${sort} IS NULL`, `${sort} ${query.sort.descending ? 'DESC' : 'ASC'}`, 'r.id');
  } else {
    order.push('r.experiment_id', 'r.id');
  }

  const limit = query.limit ?? 50;
  const offset = query.offset ?? 0;
  if (!Number.isInteger(limit) || limit < 0 || limit > MAX_RUN_PAGE) throw new RangeError(`limit must be 0 to ${MAX_RUN_PAGE}`);
  if (!Number.isInteger(offset) || offset < 0) throw new RangeError('offset must be a whole number');
  const page = `SELECT r.id ${filtered} ORDER BY ${order.join(', ')} LIMIT ${params.add(limit)} OFFSET ${params.add(offset)}`;
  return { count: `SELECT count(*) ${filtered}`, groups, page, params: params.values };
}
