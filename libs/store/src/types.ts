/**
 * The store's whole public surface. SQLite is the embedded default; a server store (Postgres, with
 * workers on several machines) will implement the same interfaces, so every method is async and
 * takes and returns plain data only.
 */

export type RunStatus = 'queued' | 'running' | 'done' | 'failed' | 'diverged';

export interface ExperimentRecord {
  id: number;
  name: string;
  description: string;
  specText: string;
  specHash: string;
  specFile: string;
  createdAt: string;
}

export interface RunRecord {
  id: number;
  experimentId: number;
  experimentName: string;
  variantId: string;
  /** Short human label: the settings that differ from the rest of the sweep, e.g. `dataset.where={"gender":"male"}`. */
  label: string;
  /** Fully resolved settings (JSON object). */
  settings: Record<string, unknown>;
  status: RunStatus;
  backend: string | null;
  device: string | null;
  error: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** Last epoch whose metrics and grid were committed (0 = none). */
  epochsDone: number;
  /** Epoch summary metrics (step = `EPOCH_SUMMARY_STEP`) of epoch `epochsDone`, by name. */
  lastMetrics: Record<string, number>;
  /** Dataset composition as the trainer saw it (counts per label value), once known. */
  datasetSummary: Record<string, unknown> | null;
}

/**
 * The `step` of an epoch-level (summary) metric row. Row convention, which the trainer must follow:
 * - epoch summary rows: `{ epoch, step: EPOCH_SUMMARY_STEP (-1), ... }`, written by `commitEpoch`; these are
 *   what `RunRecord.lastMetrics` shows;
 * - step rows: `{ epoch, step: globalStep (>= 0), ... }`, written by `logMetrics` (or with the epoch by `commitEpoch`).
 * Epochs are numbered from 1. A row is identified by (run, epoch, step, name): writing it again replaces it.
 * A value of NaN (a diverged loss) is kept and read back as NaN.
 */
export const EPOCH_SUMMARY_STEP = -1;

export interface MetricRow {
  /** 1-based epoch the row belongs to. */
  epoch: number;
  /** `EPOCH_SUMMARY_STEP` (-1) for the epoch summary, else the global step (>= 0). */
  step: number;
  name: string;
  value: number;
  /** Milliseconds since the Unix epoch. */
  time: number;
}

export interface GridRecord {
  id: number;
  runId: number;
  epoch: number;
  width: number;
  height: number;
}

/** A checkpoint of a run: both networks, both optimizers' state and the step count after `epoch`. */
export interface CheckpointRecord {
  runId: number;
  /** The epoch it was saved after (1-based). */
  epoch: number;
  /** Training steps done when it was saved. */
  globalStep: number;
  /** Its folder, relative to the database's folder (`<experiment>/<variant>/epoch-0005`). */
  path: string;
  createdAt: string;
}

export interface RunFilter {
  experimentId?: number;
  status?: RunStatus;
}

/** The run's own fields that `RunQuery` can filter, sort and group by (besides settings and final metrics). */
export const RUN_COLUMNS = [
  'id',
  'experiment',
  'label',
  'variant',
  'status',
  'backend',
  'device',
  'epochs',
  'created',
  'started',
  'finished',
] as const;
export type RunColumn = (typeof RUN_COLUMNS)[number];

/**
 * A field of the runs table, by name: one of `RUN_COLUMNS`; `settings.` and a dotted path into the resolved settings
 * (`settings.model.dropout`); or `metrics.` and a metric name, meaning its final value, the summary of the last
 * committed epoch (`metrics.g_loss`).
 */
export type RunField = RunColumn | `settings.${string}` | `metrics.${string}`;

export type RunConditionOp = '=' | '!=' | '<' | '<=' | '>' | '>=' | '~';

/**
 * `=` matches a setting by its value (`male`, `0.25`) or its JSON text (`{"gender":"male"}`, `true`); `!=` is its
 * negation and also keeps runs without the field; `<`, `<=`, `>`, `>=` compare numbers numerically (text as text) and
 * skip runs without the field; `~` is a case-insensitive substring of the value's text.
 */
export interface RunCondition {
  field: RunField;
  op: RunConditionOp;
  value: string | number;
}

/** What the runs table shows: one page of the filtered, sorted runs. */
export interface RunQuery {
  /** Words that must each appear in the experiment name, label, variant id, status, backend or device (any case). */
  text?: string;
  /** Conditions that must all hold. */
  where?: RunCondition[];
  /** Default: by experiment, then run id. Runs without a value (NULL, NaN) come last either way; ties go by run id. */
  sort?: { field: RunField; descending?: boolean };
  /** Orders the runs by this field first (ascending, blanks last) and has `RunPage.groups` count every group. */
  groupBy?: RunField;
  offset?: number;
  /** Default 50, at most `MAX_RUN_PAGE`. */
  limit?: number;
}

export const MAX_RUN_PAGE = 1000;

export interface RunGroup {
  /** The field's value (a setting that is an object or array comes as its JSON text); null: runs without it. */
  value: string | number | null;
  count: number;
  /** Position of the group's first run among all the filtered runs in their order. */
  start: number;
}

export interface RunPage {
  /** How many runs pass the filters (all pages). */
  total: number;
  runs: RunRecord[];
  /** Every group of the filtered runs in order, when the query groups; else null. */
  groups: RunGroup[] | null;
}

/** What the runs can be filtered, sorted and grouped by. */
export interface RunFields {
  /** Every leaf setting path (dotted, without `settings.`), how many runs have it and how many distinct values it takes. */
  settings: { path: string; runs: number; values: number }[];
  /** Every metric name logged so far. */
  metrics: string[];
  /** How many runs there are. */
  runs: number;
}

/** What the runner (the writing side) needs. */
export interface StoreWriter {
  /**
   * Inserts the experiment, or updates the one with the same name to this spec (text, hash, file, description)
   * and returns it: an edited spec keeps its experiment, so variants already trained stay done. Each run keeps
   * its own fully resolved settings.
   */
  upsertExperiment(e: { name: string; description: string; specText: string; specHash: string; specFile: string }): Promise<ExperimentRecord>;
  /** Inserts a queued run for the variant, or returns the existing run of that experiment and variant. */
  ensureRun(r: { experimentId: number; variantId: string; label: string; settings: Record<string, unknown> }): Promise<RunRecord>;
  startRun(runId: number, info: { backend: string; device: string }): Promise<void>;
  setDatasetSummary(runId: number, summary: Record<string, unknown>): Promise<void>;
  /** Step-level metrics (step >= 0, between epochs); one transaction; rewriting a (epoch, step, name) row replaces it. */
  logMetrics(runId: number, rows: MetricRow[]): Promise<void>;
  /**
   * Everything an epoch produced, in one transaction: epoch metrics, the sample grid, the run's progress
   * (`epochsDone = epoch`). Every row must have `row.epoch === epoch`; summary rows use `EPOCH_SUMMARY_STEP`, step rows
   * may ride along. Re-committing an epoch (a resumed run redoing it) replaces that epoch's summary rows and grid
   * (a null grid removes the old one); a replaced grid gets a new id, so grid ids can be cached forever.
   */
  commitEpoch(runId: number, epoch: number, rows: MetricRow[], gridPng: Buffer | null): Promise<void>;
  finishRun(runId: number, status: Exclude<RunStatus, 'queued' | 'running'>, error?: string): Promise<void>;
  /** Records a checkpoint written after `epoch` (replacing one recorded for the same epoch). */
  recordCheckpoint(runId: number, checkpoint: { epoch: number; globalStep: number; path: string }): Promise<void>;
  /** The run's checkpoints, by epoch. */
  listCheckpoints(runId: number): Promise<CheckpointRecord[]>;
  /**
   * Forgets everything the run recorded after `epoch` (metrics, grids, checkpoints) and sets `epochsDone` to at most
   * `epoch`, in one transaction: a run resumed from its checkpoint at `epoch` (0: from scratch) then commits each later
   * epoch exactly once.
   */
  rewindRun(runId: number, epoch: number): Promise<void>;
}

/** What the report (the reading side) needs. */
export interface StoreReader {
  listExperiments(): Promise<ExperimentRecord[]>;
  getExperiment(id: number): Promise<ExperimentRecord | null>;
  /** Ordered by experiment id, then run id. */
  listRuns(filter?: RunFilter): Promise<RunRecord[]>;
  getRun(id: number): Promise<RunRecord | null>;
  /** Ordered by name, epoch, step; `names` restricts to those metrics. */
  getMetrics(runId: number, names?: string[]): Promise<MetricRow[]>;
  /** Ordered by epoch. */
  listGrids(runId: number): Promise<GridRecord[]>;
  getGridPng(gridId: number): Promise<Buffer | null>;
  /** One page of runs, filtered, sorted and grouped by any run field, setting or final metric. Throws RangeError for a malformed field. */
  queryRuns(query: RunQuery): Promise<RunPage>;
  listRunFields(): Promise<RunFields>;
  /** A cheap token that changes whenever anything is committed to the store: readers poll it to follow a sweep live. */
  dataVersion(): Promise<string>;
}

export interface Store extends StoreWriter, StoreReader {
  close(): Promise<void>;
}
