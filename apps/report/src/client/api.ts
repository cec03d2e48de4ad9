import type { ExperimentRecord, GridRecord, MetricRow, RunRecord } from '@facegan/store';

export type { ExperimentRecord, MetricRow, RunRecord };
export type GridInfo = GridRecord & { url: string };

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

export const api = {
  experiments: () => getJson<ExperimentRecord[]>('/api/experiments'),
  runs: () => getJson<RunRecord[]>('/api/runs'),
  run: (id: number) => getJson<RunRecord>(`/api/runs/${id}`),
  /** All epoch rows, and step rows thinned to `stepPoints` per metric by the server (0: none). */
  metrics: (id: number, stepPoints: number) => getJson<MetricRow[]>(`/api/runs/${id}/metrics?stepPoints=${stepPoints}`),
  grids: (id: number) => getJson<GridInfo[]>(`/api/runs/${id}/grids`),
};

export function isLive(run: RunRecord): boolean {
  return run.status === 'running' || run.status === 'queued';
}
