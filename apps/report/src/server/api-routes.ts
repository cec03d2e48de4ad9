import type { FastifyInstance, FastifyReply } from 'fastify';
import type { RunFilter, RunStatus, StoreReader } from '@facegan/store';
import { sweepCommand } from './html';
import { parseId } from './ids';
import { thinStepRows } from './thin-metrics';
import type { StoreSource } from './store-source';

const runStatuses: readonly RunStatus[] = ['queued', 'running', 'done', 'failed', 'diverged'];
const metricName = /^[A-Za-z0-9_.-]{1,64}$/;

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

export function registerApiRoutes(app: FastifyInstance, source: StoreSource, dbPath: string): void {
  /** Every API route needs the store; without a database they all answer 503 with the way out. */
  async function withStore<T>(reply: FastifyReply, use: (store: StoreReader) => Promise<T>) {
    const store = await source();
    if (!store) {
      return reply.code(503).send({ error: 'no database yet', dbPath, hint: `run \`${sweepCommand}\`` });
    }
    return use(store);
  }

  app.get('/api/experiments', (_request, reply) => withStore(reply, (store) => store.listExperiments()));

  app.get<{ Querystring: { experimentId?: string; status?: string } }>('/api/runs', (request, reply) =>
    withStore(reply, async (store) => {
      const filter: RunFilter = {};
      const { experimentId, status } = request.query;
      if (experimentId !== undefined) {
        const id = parseId(experimentId);
        if (id === null) return badRequest(reply, 'experimentId must be a positive integer');
        filter.experimentId = id;
      }
      if (status !== undefined) {
        if (!runStatuses.includes(status as RunStatus)) {
          return badRequest(reply, `status must be one of ${runStatuses.join(', ')}`);
        }
        filter.status = status as RunStatus;
      }
      return store.listRuns(filter);
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
