import type { ExperimentRecord, GridRecord, MetricRow, RunFields, RunPage, RunRecord } from '@facegan/store';

export type { ExperimentRecord, MetricRow, RunRecord };
export type GridInfo = GridRecord & { url: string };
export type RunsPage = RunPage & { offset: number; limit: number };
export type FieldList = RunFields & { columns: string[] };

/** The runs table's state, as `/api/runs` and the page's URL take it. */
export interface RunsTableQuery {
  q: string;
  sort: string;
  order: 'asc' | 'desc';
  group: string;
  offset: number;
  limit: number;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function getJson<T>(path: string): Promise<T> {
  const response = await fetch(path, { headers: { accept: 'application/json' } });
  if (!response.ok) {
    const body = (await response.json().catch(() => ({}))) as { error?: string; hint?: string };
    throw new ApiError(response.status, [body.error ?? response.statusText, body.hint].filter(Boolean).join(' — '));
  }
  return (await response.json()) as T;
}

export function runsTableParams(query: RunsTableQuery): URLSearchParams {
  const params = new URLSearchParams();
  if (query.q) params.set('q', query.q);
  if (query.sort) params.set('sort', query.sort);
  if (query.sort && query.order === 'desc') params.set('order', 'desc');
  if (query.group) params.set('group', query.group);
  if (query.offset) params.set('offset', String(query.offset));
  params.set('limit', String(query.limit));
  return params;
}

export const api = {
  experiment: (id: number) => getJson<ExperimentRecord>(`/api/experiments/${id}`),
  fields: () => getJson<FieldList>('/api/fields'),
  runs: (query: RunsTableQuery) => getJson<RunsPage>(`/api/runs?${runsTableParams(query)}`),
  run: (id: number) => getJson<RunRecord>(`/api/runs/${id}`),
  /** All epoch rows, and step rows thinned to `stepPoints` per metric by the server (0: none). */
  metrics: (id: number, stepPoints: number) => getJson<MetricRow[]>(`/api/runs/${id}/metrics?stepPoints=${stepPoints}`),
  grids: (id: number) => getJson<GridInfo[]>(`/api/runs/${id}/grids`),
};

/** Download links: every metric row of these runs. */
export function exportUrl(runIds: number[], format: 'csv' | 'json'): string {
  return `/api/export/metrics.${format}?runs=${runIds.join(',')}`;
}

export function isLive(run: RunRecord): boolean {
  return run.status === 'running' || run.status === 'queued';
}
