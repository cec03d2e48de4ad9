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
  /** Metrics of the last committed epoch, by name. */
  lastMetrics: Record<string, number>;
  /** Dataset composition as the trainer saw it (counts per label value), once known. */
  datasetSummary: Record<string, unknown> | null;
}

export interface MetricRow {
  epoch: number;
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

export interface RunFilter {
  experimentId?: number;
  status?: RunStatus;
}

/** What the runner (the writing side) needs. */
export interface StoreWriter {
  /** Inserts the experiment, or returns the existing one with the same name and spec hash. */
  upsertExperiment(e: { name: string; description: string; specText: string; specHash: string; specFile: string }): Promise<ExperimentRecord>;
  /** Inserts a queued run for the variant, or returns the existing run of that experiment and variant. */
  ensureRun(r: { experimentId: number; variantId: string; label: string; settings: Record<string, unknown> }): Promise<RunRecord>;
  startRun(runId: number, info: { backend: string; device: string }): Promise<void>;
  setDatasetSummary(runId: number, summary: Record<string, unknown>): Promise<void>;
  /** Step-level metrics (between epochs); one transaction. */
  logMetrics(runId: number, rows: MetricRow[]): Promise<void>;
  /** Everything an epoch produced, in one transaction: epoch metrics, the sample grid, the run's progress. */
  commitEpoch(runId: number, epoch: number, rows: MetricRow[], gridPng: Buffer | null): Promise<void>;
  finishRun(runId: number, status: Exclude<RunStatus, 'queued' | 'running'>, error?: string): Promise<void>;
}

/** What the report (the reading side) needs. */
export interface StoreReader {
  listExperiments(): Promise<ExperimentRecord[]>;
  getExperiment(id: number): Promise<ExperimentRecord | null>;
  listRuns(filter?: RunFilter): Promise<RunRecord[]>;
  getRun(id: number): Promise<RunRecord | null>;
  getMetrics(runId: number, names?: string[]): Promise<MetricRow[]>;
  listGrids(runId: number): Promise<GridRecord[]>;
  getGridPng(gridId: number): Promise<Buffer | null>;
}

export interface Store extends StoreWriter, StoreReader {
  close(): Promise<void>;
}
