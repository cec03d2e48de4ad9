import type { FastifyInstance, FastifyReply } from 'fastify';
import { RUN_COLUMNS, type RunFields, type RunStatus, type StoreReader } from '@facegan/store';
import { exportFileName, metricsCsv, metricsJson, type RunMetrics } from './export';
import { sweepCommand } from './html';
import { parseId } from './ids';
import { parseRunQuery, QueryError, type RunQueryParams } from './run-query-params';
import { thinStepRows } from './thin-metrics';
import type { StoreSource } from './store-source';

const runStatuses: readonly RunStatus[] = ['queued', 'running', 'done', 'failed', 'diverged'];
const metricName = /^[A-Za-z0-9_.-]{1,64}$/;
/** A comparison of a whole sweep is fine; a request for thousands of runs' metrics at once is not. */
export const maxComparedRuns = 100;

type IdParams = { id: string };

export function gridUrl(gridId: number): string {
  return `/api/grids/${gridId}.png`;
}

function badRequest(reply: FastifyReply, message: string) {
  return reply.code(400).send({ error: message });
}

function notFound(reply: FastifyReply, what: string) {
  return reply.code(404).send({ error: `${what} not found` });
}

/** `runs=3,1,2`: distinct positive ids in the given order. */
function parseRunIds(raw: string | undefined): number[] | null {
  const ids = (raw ?? '').split(',').map(parseId);
  if (!ids.length || ids.some((id) => id === null)) return null;
  return [...new Set(ids as number[])];
}

/** Listing the settings paths walks every run's settings, so it is redone only when the store changed. */
function runFieldsCache() {
  const cache = new WeakMap<StoreReader, { version: string; fields: RunFields }>();
  return async (store: StoreReader): Promise<RunFields> => {
    const version = await store.dataVersion();
    const hit = cache.get(store);
    if (hit?.version === version) return hit.fields;
    const fields = await store.listRunFields();
    cache.set(store, { version, fields });
    return fields;
  };
}

export function registerApiRoutes(app: FastifyInstance, source: StoreSource, dbPath: string): void {
  const runFields = runFieldsCache();

  /** Every API route needs the store; without a database they all answer 503 with the way out. */
  async function withStore<T>(reply: FastifyReply, use: (store: StoreReader) => Promise<T>) {
    const store = await source();
    if (!store) {
      return reply.code(503).send({ error: 'no database yet', dbPath, hint: `run \`${sweepCommand}\`` });
    }
    return use(store);
  }

  app.get('/api/experiments', (_request, reply) => withStore(reply, (store) => store.listExperiments()));

  app.get<{ Params: IdParams }>('/api/experiments/:id', (request, reply) =>
    withStore(reply, async (store) => {
      const id = parseId(request.params.id);
      if (id === null) return badRequest(reply, 'experiment id must be a positive integer');
      return (await store.getExperiment(id)) ?? notFound(reply, 'experiment');
    }),
  );

  /** What the runs table can filter, sort and group by. */
  app.get('/api/fields', (_request, reply) =>
    withStore(reply, async (store) => ({ columns: RUN_COLUMNS, ...(await runFields(store)) })),
  );

  /** One page of the runs table; `experimentId` and `status` are shorthands for conditions in `q`. */
  app.get<{ Querystring: RunQueryParams & { experimentId?: string; status?: string } }>('/api/runs', (request, reply) =>
    withStore(reply, async (store) => {
      const { experimentId, status, ...params } = request.query;
      try {
        const query = parseRunQuery(params, await runFields(store));
        if (experimentId !== undefined) {
          const id = parseId(experimentId);
          if (id === null) return badRequest(reply, 'experimentId must be a positive integer');
          const experiment = await store.getExperiment(id);
          if (!experiment) return { total: 0, offset: query.offset, limit: query.limit, runs: [], groups: null };
          query.where!.push({ field: 'experiment', op: '=', value: experiment.name });
        }
        if (status !== undefined) {
          if (!runStatuses.includes(status as RunStatus)) {
            return badRequest(reply, `status must be one of ${runStatuses.join(', ')}`);
          }
          query.where!.push({ field: 'status', op: '=', value: status });
        }
        const page = await store.queryRuns(query);
        return { ...page, offset: query.offset, limit: query.limit };
      } catch (error) {
        if (error instanceof QueryError || error instanceof RangeError) return badRequest(reply, error.message);
        throw error;
      }
    }),
  );

  app.get<{ Params: IdParams }>('/api/runs/:id', (request, reply) =>
    withStore(reply, async (store) => {
      const id = parseId(request.params.id);
      if (id === null) return badRequest(reply, 'run id must be a positive integer');
      return (await store.getRun(id)) ?? notFound(reply, 'run');
    }),
  );

  /** `names`: a comma-separated subset; `stepPoints`: at most this many step rows per metric (0: epoch rows only). */
  app.get<{ Params: IdParams; Querystring: { names?: string; stepPoints?: string } }>('/api/runs/:id/metrics', (request, reply) =>
    withStore(reply, async (store) => {
      const id = parseId(request.params.id);
      if (id === null) return badRequest(reply, 'run id must be a positive integer');
      const names = request.query.names?.split(',').filter(Boolean);
      if (names?.some((name) => !metricName.test(name))) return badRequest(reply, 'invalid metric name');
      const { stepPoints } = request.query;
      const maxStepRows = stepPoints === undefined ? null : stepPoints === '0' ? 0 : parseId(stepPoints);
      if (maxStepRows === null && stepPoints !== undefined) return badRequest(reply, 'stepPoints must be a whole number');
      if (!(await store.getRun(id))) return notFound(reply, 'run');
      const rows = await store.getMetrics(id, names?.length ? names : undefined);
      return maxStepRows === null ? rows : thinStepRows(rows, maxStepRows);
    }),
  );

  app.get<{ Params: IdParams }>('/api/runs/:id/grids', (request, reply) =>
    withStore(reply, async (store) => {
      const id = parseId(request.params.id);
      if (id === null) return badRequest(reply, 'run id must be a positive integer');
      if (!(await store.getRun(id))) return notFound(reply, 'run');
      const grids = await store.listGrids(id);
      return grids.map((grid) => ({ ...grid, url: gridUrl(grid.id) }));
    }),
  );

  /** Every metric row of the given runs (`runs=1,2,3`, one run or a comparison) as a CSV or JSON download. */
  app.get<{ Params: { format: string }; Querystring: { runs?: string } }>('/api/export/metrics.:format', (request, reply) =>
    withStore(reply, async (store) => {
      const { format } = request.params;
      if (format !== 'csv' && format !== 'json') return notFound(reply, 'export format');
      const runIds = parseRunIds(request.query.runs);
      if (!runIds) return badRequest(reply, 'runs must be a comma-separated list of run ids');
      if (runIds.length > maxComparedRuns) return badRequest(reply, `at most ${maxComparedRuns} runs at once`);
      const runs: RunMetrics[] = [];
      for (const id of runIds) {
        const run = await store.getRun(id);
        if (!run) return notFound(reply, `run ${id}`);
        runs.push({ run, metrics: await store.getMetrics(id) });
      }
      reply.header('content-disposition', `attachment; filename="${exportFileName(runIds, format)}"`);
      if (format === 'json') return reply.type('application/json; charset=utf-8').send(metricsJson(runs));
      return reply.type('text/csv; charset=utf-8').send(metricsCsv(runs));
    }),
  );

  // Images are addressed by numeric id only: the route itself rejects anything else.
  app.get<{ Params: IdParams }>('/api/grids/:id(^\\d+).png', (request, reply) =>
    withStore(reply, async (store) => {
      const id = parseId(request.params.id);
      const png = id === null ? null : await store.getGridPng(id);
      if (!png) return notFound(reply, 'grid');
      // A grid id names one committed image forever, so browsers may keep it.
      return reply.type('image/png').header('cache-control', 'public, max-age=31536000, immutable').send(png);
    }),
  );
}
