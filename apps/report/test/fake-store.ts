import type { ExperimentRecord, GridRecord, MetricRow, RunFields, RunFilter, RunPage, RunQuery, RunRecord, StoreReader } from '@facegan/store';

/** An in-memory StoreReader: the report's routes only ever see this interface. */
export class FakeStore implements StoreReader {
  experiments: ExperimentRecord[] = [];
  runs: RunRecord[] = [];
  metrics = new Map<number, MetricRow[]>();
  grids: (GridRecord & { png: Buffer })[] = [];
  fields: RunFields = { settings: [{ path: 'model.dropout', runs: 2, values: 2 }], metrics: ['g_loss'], runs: 0 };
  /** What the routes asked `queryRuns` for; the query language itself is tested against SQLite in libs/store. */
  queries: RunQuery[] = [];
  version = 1;

  addExperiment(fields: Partial<ExperimentRecord> = {}): ExperimentRecord {
    const id = this.experiments.length + 1;
    const experiment: ExperimentRecord = {
      id,
      name: `experiment-${id}`,
      description: '',
      specText: 'name: x',
      specHash: `hash-${id}`,
      specFile: 'experiments/x.yaml',
      createdAt: '2025-01-01T00:00:00.000Z',
      ...fields,
    };
    this.experiments.push(experiment);
    return experiment;
  }

  addRun(experiment: ExperimentRecord, fields: Partial<RunRecord> = {}): RunRecord {
    const id = this.runs.length + 1;
    const run: RunRecord = {
      id,
      experimentId: experiment.id,
      experimentName: experiment.name,
      variantId: `v${id}`,
      label: `variant ${id}`,
      settings: { epochs: 3 },
      status: 'done',
      backend: 'cpu',
      device: 'test',
      error: null,
      createdAt: '2025-01-01T00:00:00.000Z',
      startedAt: '2025-01-01T00:00:01.000Z',
      finishedAt: '2025-01-01T00:01:00.000Z',
      epochsDone: 0,
      lastMetrics: {},
      datasetSummary: null,
      ...fields,
    };
    this.runs.push(run);
    return run;
  }

  addGrid(runId: number, epoch: number, png: Buffer): GridRecord {
    const grid = { id: this.grids.length + 1, runId, epoch, width: 4, height: 4 };
    this.grids.push({ ...grid, png });
    return grid;
  }

  async listExperiments() {
    return this.experiments;
  }
  async getExperiment(id: number) {
    return this.experiments.find((e) => e.id === id) ?? null;
  }
  async listRuns(filter: RunFilter = {}) {
    return this.runs.filter(
      (run) =>
        (filter.experimentId === undefined || run.experimentId === filter.experimentId) &&
        (filter.status === undefined || run.status === filter.status),
    );
  }
  async getRun(id: number) {
    return this.runs.find((run) => run.id === id) ?? null;
  }
  async getMetrics(runId: number, names?: string[]) {
    const rows = this.metrics.get(runId) ?? [];
    return names ? rows.filter((row) => names.includes(row.name)) : rows;
  }
  async listGrids(runId: number) {
    return this.grids.filter((g) => g.runId === runId).map(({ png: _png, ...grid }) => grid);
  }
  /** Applies only `=` on status and experiment, and paging: enough to see the routes pass queries through. */
  async queryRuns(query: RunQuery): Promise<RunPage> {
    this.queries.push(query);
    const matching = this.runs.filter((run) =>
      (query.where ?? []).every(
        (c) => c.op === '=' && ((c.field === 'status' && run.status === c.value) || (c.field === 'experiment' && run.experimentName === c.value)),
      ),
    );
    const offset = query.offset ?? 0;
    return { total: matching.length, runs: matching.slice(offset, offset + (query.limit ?? 50)), groups: null };
  }
  async listRunFields() {
    return { ...this.fields, runs: this.runs.length };
  }
  async dataVersion() {
    return String(this.version);
  }
  async getGridPng(gridId: number) {
    return this.grids.find((g) => g.id === gridId)?.png ?? null;
  }
}
