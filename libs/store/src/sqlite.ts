import Database from 'better-sqlite3';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { StoreMissingError, StoreVersionError } from './errors';
import { migrate, MIGRATIONS, MIN_READABLE_VERSION, schemaVersion } from './migrations';
import { readPngSize } from './png';
import { runQuerySql } from './run-query';
import {
  EPOCH_SUMMARY_STEP,
  type CheckpointRecord,
  type ExperimentRecord,
  type GridRecord,
  type MetricRow,
  type RunFields,
  type RunFilter,
  type RunGroup,
  type RunPage,
  type RunQuery,
  type RunRecord,
  type RunStatus,
  type Store,
} from './types';

export interface OpenStoreOptions {
  /** Open an existing store for reading only (the report): every write throws. */
  readonly?: boolean;
}

const BUSY_TIMEOUT_MS = 5000;
/** The schema version that added the checkpoints table. */
const CHECKPOINTS_VERSION = 2;

/**
 * Opens the SQLite store at `path`. Writable (the default): creates the folders and the file and migrates the schema.
 * Read-only: throws `StoreMissingError` if there is no file, `StoreVersionError` if its schema is unreadable.
 */
export async function openStore(path: string, options: OpenStoreOptions = {}): Promise<Store> {
  return openSqliteStore(path, options, MIGRATIONS);
}

/** `openStore` with a given migration list, so tests can play an older or a newer facegan. */
export function openSqliteStore(path: string, options: OpenStoreOptions, migrations: readonly string[]): Store {
  const readonly = options.readonly ?? false;
  const supported = { min: readonly ? MIN_READABLE_VERSION : 0, max: migrations.length };
  if (readonly && !existsSync(path)) throw new StoreMissingError(path);
  if (!readonly) mkdirSync(dirname(path), { recursive: true });

  let db: Database.Database;
  try {
    db = new Database(path, { readonly, fileMustExist: readonly });
  } catch (error) {
    if (readonly && (error as { code?: string }).code === 'SQLITE_CANTOPEN') throw new StoreMissingError(path);
    throw error;
  }
  try {
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    if (readonly) {
      const version = schemaVersion(db);
      if (version < supported.min || version > supported.max) throw new StoreVersionError(path, version, supported);
    } else {
      db.pragma('journal_mode = WAL');
      // FULL rather than NORMAL: commits are coarse (an epoch, a batch of step rows), so the extra fsync is cheap, and a
      // committed epoch then survives a power cut too, not only a crash of the process.
      db.pragma('synchronous = FULL');
      db.pragma('foreign_keys = ON');
      migrate(db, migrations, (version) => new StoreVersionError(path, version, supported));
    }
    return new SqliteStore(db, readonly);
  } catch (error) {
    db.close();
    throw error;
  }
}

/** The read queries whose speed matters with a million metric rows; exported for the query-plan test. */
export const READ_QUERIES = {
  /** One run's metrics in (name, epoch, step) order: names in index order, then one primary-key range per name. */
  metricsOfRun: `
    SELECT n.name, m.epoch, m.step, m.value, m.time
    FROM metric_names n CROSS JOIN metrics m
    WHERE m.run_id = @runId AND m.name_id = n.id
      AND (@names IS NULL OR n.name IN (SELECT value FROM json_each(@names)))
    ORDER BY n.name, m.epoch, m.step`,
  /** The last epoch's summary of the selected runs: one primary-key lookup per (run, metric name). */
  lastMetricsOfRuns: `
    SELECT r.id AS run_id, n.name, m.value
    FROM runs r CROSS JOIN metric_names n CROSS JOIN metrics m
    WHERE m.run_id = r.id AND m.name_id = n.id AND m.epoch = r.epochs_done AND m.step = ${EPOCH_SUMMARY_STEP}
      AND (@runId IS NULL OR r.id = @runId)
      AND (@experimentId IS NULL OR r.experiment_id = @experimentId)
      AND (@status IS NULL OR r.status = @status)`,
  runs: `
    SELECT r.*, e.name AS experiment_name
    FROM runs r JOIN experiments e ON e.id = r.experiment_id
    WHERE (@runId IS NULL OR r.id = @runId)
      AND (@experimentId IS NULL OR r.experiment_id = @experimentId)
      AND (@status IS NULL OR r.status = @status)
    ORDER BY r.experiment_id, r.id`,
  /** The runs of a page, by a JSON array of ids, in its order. */
  runsByIds: `
    SELECT r.*, e.name AS experiment_name
    FROM json_each(@ids) j CROSS JOIN runs r JOIN experiments e ON e.id = r.experiment_id
    WHERE r.id = j.value
    ORDER BY j.key`,
  /** The last epoch's summary of the runs of a page: one primary-key lookup per (run, metric name). */
  lastMetricsOfRunIds: `
    SELECT r.id AS run_id, n.name, m.value
    FROM json_each(@ids) j CROSS JOIN runs r CROSS JOIN metric_names n CROSS JOIN metrics m
    WHERE r.id = j.value AND m.run_id = r.id AND m.name_id = n.id AND m.epoch = r.epochs_done
      AND m.step = ${EPOCH_SUMMARY_STEP}`,
  /** Leaf setting paths: arrays count as one value, objects are looked into. */
  settingPaths: `
    SELECT t.fullkey AS key, count(*) AS runs, count(DISTINCT t.value) AS "values"
    FROM runs r, json_tree(r.settings_json) t
    WHERE t.type != 'object' AND t.fullkey NOT LIKE '%[%'
    GROUP BY t.fullkey
    ORDER BY t.fullkey`,
} as const;

type LastMetricRow = { run_id: number; name: string; value: number | null };

interface ExperimentRow {
  id: number;
  name: string;
  description: string;
  spec_text: string;
  spec_hash: string;
  spec_file: string;
  created_at: string;
}

interface RunRow {
  id: number;
  experiment_id: number;
  experiment_name: string;
  variant_id: string;
  label: string;
  settings_json: string;
  status: RunStatus;
  backend: string | null;
  device: string | null;
  error: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  epochs_done: number;
  dataset_summary_json: string | null;
}

interface RunSelection {
  runId: number | null;
  experimentId: number | null;
  status: RunStatus | null;
}

class SqliteStore implements Store {
  private readonly statements = new Map<string, Database.Statement>();
  /** Committed metric names only: `write` forgets them all when a transaction rolls back. */
  private readonly metricNameIds = new Map<string, number>();

  constructor(
    private readonly db: Database.Database,
    private readonly readonly: boolean,
  ) {}

  async upsertExperiment(e: {
    name: string;
    description: string;
    specText: string;
    specHash: string;
    specFile: string;
  }): Promise<ExperimentRecord> {
    return this.write('upsertExperiment', () => {
      this.statement(
        `INSERT INTO experiments (name, description, spec_text, spec_hash, spec_file, created_at)
         VALUES (@name, @description, @specText, @specHash, @specFile, @createdAt)
         ON CONFLICT (name) DO UPDATE SET description = excluded.description, spec_text = excluded.spec_text,
           spec_hash = excluded.spec_hash, spec_file = excluded.spec_file`,
      ).run({ ...e, createdAt: now() });
      const row = this.statement('SELECT * FROM experiments WHERE name = ?').get(e.name);
      return toExperimentRecord(row as ExperimentRow);
    });
  }

  async ensureRun(r: {
    experimentId: number;
    variantId: string;
    label: string;
    settings: Record<string, unknown>;
  }): Promise<RunRecord> {
    const runId = this.write('ensureRun', () => {
      if (!this.statement('SELECT 1 FROM experiments WHERE id = ?').get(r.experimentId)) {
        throw new Error(`Experiment ${r.experimentId} does not exist`);
      }
      this.statement(
        `INSERT INTO runs (experiment_id, variant_id, label, settings_json, created_at)
         VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (experiment_id, variant_id) DO NOTHING`,
      ).run(r.experimentId, r.variantId, r.label, JSON.stringify(r.settings), now());
      return this.statement('SELECT id FROM runs WHERE experiment_id = ? AND variant_id = ?')
        .pluck()
        .get(r.experimentId, r.variantId) as number;
    });
    return this.selectRuns({ runId, experimentId: null, status: null })[0];
  }

  async startRun(runId: number, info: { backend: string; device: string }): Promise<void> {
    this.write('startRun', () =>
      this.updateRun(
        runId,
        `UPDATE runs SET status = 'running', backend = ?, device = ?, started_at = ?, finished_at = NULL, error = NULL
         WHERE id = ?`,
        info.backend,
        info.device,
        now(),
        runId,
      ),
    );
  }

  async setDatasetSummary(runId: number, summary: Record<string, unknown>): Promise<void> {
    this.write('setDatasetSummary', () =>
      this.updateRun(runId, 'UPDATE runs SET dataset_summary_json = ? WHERE id = ?', JSON.stringify(summary), runId),
    );
  }

  async logMetrics(runId: number, rows: MetricRow[]): Promise<void> {
    for (const row of rows) {
      checkEpoch(row.epoch);
      if (!Number.isInteger(row.step) || row.step < 0) {
        throw new RangeError(
          `logMetrics takes step rows (step >= 0), got step ${row.step} for ${row.name}; epoch summaries go through commitEpoch`,
        );
      }
    }
    this.write('logMetrics', () => {
      this.requireRun(runId);
      this.insertMetrics(runId, rows);
    });
  }

  async commitEpoch(runId: number, epoch: number, rows: MetricRow[], gridPng: Buffer | null): Promise<void> {
    checkEpoch(epoch);
    for (const row of rows) {
      if (row.epoch !== epoch) {
        throw new RangeError(`commitEpoch(${epoch}) got a row of epoch ${row.epoch} (${row.name})`);
      }
      if (!Number.isInteger(row.step) || row.step < EPOCH_SUMMARY_STEP) {
        throw new RangeError(`Metric step must be ${EPOCH_SUMMARY_STEP} or a global step >= 0, got ${row.step}`);
      }
    }
    const gridSize = gridPng ? readPngSize(gridPng) : null;
    this.write('commitEpoch', () => {
      this.requireRun(runId);
      // An epoch done again replaces its summary and grid; step rows are replaced row by row by their key.
      this.statement(
        `DELETE FROM metrics
         WHERE run_id = ? AND name_id IN (SELECT id FROM metric_names) AND epoch = ? AND step = ${EPOCH_SUMMARY_STEP}`,
      ).run(runId, epoch);
      this.insertMetrics(runId, rows);
      this.statement('DELETE FROM grids WHERE run_id = ? AND epoch = ?').run(runId, epoch);
      if (gridPng && gridSize) {
        this.statement('INSERT INTO grids (run_id, epoch, width, height, png) VALUES (?, ?, ?, ?, ?)').run(
          runId,
          epoch,
          gridSize.width,
          gridSize.height,
          gridPng,
        );
      }
      this.statement('UPDATE runs SET epochs_done = ? WHERE id = ?').run(epoch, runId);
    });
  }

  async finishRun(runId: number, status: Exclude<RunStatus, 'queued' | 'running'>, error?: string): Promise<void> {
    this.write('finishRun', () =>
      this.updateRun(
        runId,
        'UPDATE runs SET status = ?, error = ?, finished_at = ? WHERE id = ?',
        status,
        error ?? null,
        now(),
        runId,
      ),
    );
  }

  async recordCheckpoint(runId: number, checkpoint: { epoch: number; globalStep: number; path: string }): Promise<void> {
    checkEpoch(checkpoint.epoch);
    if (!Number.isInteger(checkpoint.globalStep) || checkpoint.globalStep < 0) {
      throw new RangeError(`A checkpoint's global step is an integer >= 0, got ${checkpoint.globalStep}`);
    }
    if (checkpoint.path === '') throw new RangeError('A checkpoint needs a path');
    this.write('recordCheckpoint', () => {
      this.requireRun(runId);
      this.statement(
        `INSERT INTO checkpoints (run_id, epoch, global_step, path, created_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (run_id, epoch) DO UPDATE SET global_step = excluded.global_step, path = excluded.path,
           created_at = excluded.created_at`,
      ).run(runId, checkpoint.epoch, checkpoint.globalStep, checkpoint.path, now());
    });
  }

  async listCheckpoints(runId: number): Promise<CheckpointRecord[]> {
    // A read-only store written by a facegan before checkpoints has none.
    if (schemaVersion(this.db) < CHECKPOINTS_VERSION) return [];
    return this.statement(
      `SELECT run_id AS runId, epoch, global_step AS globalStep, path, created_at AS createdAt
       FROM checkpoints WHERE run_id = ? ORDER BY epoch`,
    ).all(runId) as CheckpointRecord[];
  }

  async rewindRun(runId: number, epoch: number): Promise<void> {
    if (!Number.isInteger(epoch) || epoch < 0) throw new RangeError(`rewindRun takes an epoch >= 0, got ${epoch}`);
    this.write('rewindRun', () => {
      this.requireRun(runId);
      this.statement('DELETE FROM metrics WHERE run_id = ? AND name_id IN (SELECT id FROM metric_names) AND epoch > ?').run(
        runId,
        epoch,
      );
      this.statement('DELETE FROM grids WHERE run_id = ? AND epoch > ?').run(runId, epoch);
      this.statement('DELETE FROM checkpoints WHERE run_id = ? AND epoch > ?').run(runId, epoch);
      this.statement('UPDATE runs SET epochs_done = min(epochs_done, ?) WHERE id = ?').run(epoch, runId);
    });
  }

  async listExperiments(): Promise<ExperimentRecord[]> {
    const rows = this.statement('SELECT * FROM experiments ORDER BY id').all() as ExperimentRow[];
    return rows.map(toExperimentRecord);
  }

  async getExperiment(id: number): Promise<ExperimentRecord | null> {
    const row = this.statement('SELECT * FROM experiments WHERE id = ?').get(id) as ExperimentRow | undefined;
    return row ? toExperimentRecord(row) : null;
  }

  async listRuns(filter: RunFilter = {}): Promise<RunRecord[]> {
    return this.selectRuns({ runId: null, experimentId: filter.experimentId ?? null, status: filter.status ?? null });
  }

  async getRun(id: number): Promise<RunRecord | null> {
    return this.selectRuns({ runId: id, experimentId: null, status: null })[0] ?? null;
  }

  async getMetrics(runId: number, names?: string[]): Promise<MetricRow[]> {
    const rows = this.statement(READ_QUERIES.metricsOfRun).all({
      runId,
      names: names ? JSON.stringify(names) : null,
    }) as Array<Omit<MetricRow, 'value'> & { value: number | null }>;
    for (const row of rows) row.value ??= Number.NaN;
    return rows as MetricRow[];
  }

  async listGrids(runId: number): Promise<GridRecord[]> {
    return this.statement(
      'SELECT id, run_id AS runId, epoch, width, height FROM grids WHERE run_id = ? ORDER BY epoch',
    ).all(runId) as GridRecord[];
  }

  async getGridPng(gridId: number): Promise<Buffer | null> {
    const png = this.statement('SELECT png FROM grids WHERE id = ?').pluck().get(gridId) as Buffer | undefined;
    return png ?? null;
  }

  async queryRuns(query: RunQuery): Promise<RunPage> {
    const sql = runQuerySql(query);
    // Ad-hoc SQL (its shape depends on the query), so prepared each time rather than cached.
    const read = this.db.transaction(() => {
      const total = this.db.prepare(sql.count).pluck().get(sql.params) as number;
      const groupRows = sql.groups
        ? (this.db.prepare(sql.groups).all(sql.params) as Array<{ value: string | number | null; count: number }>)
        : null;
      const ids = this.db.prepare(sql.page).pluck().all(sql.params) as number[];
      const json = JSON.stringify(ids);
      const runs = this.statement(READ_QUERIES.runsByIds).all({ ids: json }) as RunRow[];
      const metrics = this.statement(READ_QUERIES.lastMetricsOfRunIds).all({ ids: json }) as LastMetricRow[];
      return { total, groupRows, runs, metrics };
    });
    const { total, groupRows, runs, metrics } = read();
    let start = 0;
    const groups = groupRows?.map(({ value, count }): RunGroup => {
      const group = { value, count, start };
      start += count;
      return group;
    });
    return { total, runs: toRunRecords(runs, metrics), groups: groups ?? null };
  }

  async listRunFields(): Promise<RunFields> {
    const read = this.db.transaction(() => ({
      paths: this.statement(READ_QUERIES.settingPaths).all() as Array<{ key: string; runs: number; values: number }>,
      metrics: this.statement('SELECT name FROM metric_names ORDER BY name').pluck().all() as string[],
      runs: this.statement('SELECT count(*) FROM runs').pluck().get() as number,
    }));
    const { paths, metrics, runs } = read();
    const settings = paths
      // Keys that JSON paths must quote (spaces, dots) cannot be named by a dotted path: left out.
      .filter(({ key }) => /^\$(\.[A-Za-z0-9_-]+)+$/.test(key))
      .map(({ key, ...counts }) => ({ path: key.slice(2), ...counts }));
    return { settings, metrics, runs };
  }

  async dataVersion(): Promise<string> {
    // data_version moves when another connection commits, total_changes when this one writes.
    const version = this.db.pragma('data_version', { simple: true }) as number;
    const ownChanges = this.statement('SELECT total_changes()').pluck().get() as number;
    return `${version}.${ownChanges}`;
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  private selectRuns(selection: RunSelection): RunRecord[] {
    const read = this.db.transaction(() => {
      const runs = this.statement(READ_QUERIES.runs).all(selection) as RunRow[];
      const metrics = this.statement(READ_QUERIES.lastMetricsOfRuns).all(selection) as LastMetricRow[];
      return { runs, metrics };
    });
    // One read transaction, so the runs and their last metrics come from the same snapshot.
    const { runs, metrics } = read();
    return toRunRecords(runs, metrics);
  }

  private insertMetrics(runId: number, rows: MetricRow[]): void {
    const insert = this.statement(
      `INSERT INTO metrics (run_id, name_id, epoch, step, value, time) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (run_id, name_id, epoch, step) DO UPDATE SET value = excluded.value, time = excluded.time`,
    );
    for (const row of rows) {
      insert.run(runId, this.metricNameId(row.name), row.epoch, row.step, row.value, Math.round(row.time));
    }
  }

  private metricNameId(name: string): number {
    let id = this.metricNameIds.get(name);
    if (id === undefined) {
      this.statement('INSERT INTO metric_names (name) VALUES (?) ON CONFLICT (name) DO NOTHING').run(name);
      id = this.statement('SELECT id FROM metric_names WHERE name = ?').pluck().get(name) as number;
      this.metricNameIds.set(name, id);
    }
    return id;
  }

  private requireRun(runId: number): void {
    if (!this.statement('SELECT 1 FROM runs WHERE id = ?').get(runId)) throw new Error(`Run ${runId} does not exist`);
  }

  private updateRun(runId: number, sql: string, ...params: unknown[]): void {
    if (this.statement(sql).run(...params).changes === 0) throw new Error(`Run ${runId} does not exist`);
  }

  /** Runs `work` in one IMMEDIATE transaction: it takes the write lock up front, so it waits rather than fails. */
  private write<T>(method: string, work: () => T): T {
    if (this.readonly) throw new Error(`The store is open read-only: ${method} is not allowed`);
    try {
      return this.db.transaction(work).immediate();
    } catch (error) {
      this.metricNameIds.clear();
      throw error;
    }
  }

  private statement(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }
}

function checkEpoch(epoch: number): void {
  if (!Number.isInteger(epoch) || epoch < 1) throw new RangeError(`Epochs are numbered from 1, got ${epoch}`);
}

function now(): string {
  return new Date().toISOString();
}

function toExperimentRecord(row: ExperimentRow): ExperimentRecord {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    specText: row.spec_text,
    specHash: row.spec_hash,
    specFile: row.spec_file,
    createdAt: row.created_at,
  };
}

function toRunRecords(runs: RunRow[], metrics: LastMetricRow[]): RunRecord[] {
  const lastMetricsByRun = new Map<number, Record<string, number>>();
  for (const { run_id, name, value } of metrics) {
    let lastMetrics = lastMetricsByRun.get(run_id);
    if (!lastMetrics) lastMetricsByRun.set(run_id, (lastMetrics = {}));
    lastMetrics[name] = value ?? Number.NaN;
  }
  return runs.map((row) => toRunRecord(row, lastMetricsByRun.get(row.id) ?? {}));
}

function toRunRecord(row: RunRow, lastMetrics: Record<string, number>): RunRecord {
  return {
    id: row.id,
    experimentId: row.experiment_id,
    experimentName: row.experiment_name,
    variantId: row.variant_id,
    label: row.label,
    settings: JSON.parse(row.settings_json) as Record<string, unknown>,
    status: row.status,
    backend: row.backend,
    device: row.device,
    error: row.error,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    epochsDone: row.epochs_done,
    lastMetrics,
    datasetSummary: row.dataset_summary_json ? (JSON.parse(row.dataset_summary_json) as Record<string, unknown>) : null,
  };
}
