import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { registerApiRoutes } from './api-routes';
import type { StoreReader } from '@facegan/store';
import { registerLiveEvents } from './live-events';
import { bundleMissingPage, noRunsPage, storeErrorPage } from './html';
import type { StoreSource } from './store-source';

export interface ReportAppOptions {
  store: StoreSource;
  /** Shown to the user when the database is missing or empty. */
  dbPath: string;
  /** Folder with index.html and the esbuild bundle in build/. */
  publicDir: string;
  logger?: boolean;
  /** How often open pages' event streams ask the store whether it changed. */
  liveCheckMs?: number;
}

const contentSecurityPolicy = [
  "default-src 'self'",
  "script-src 'self'",
  // uPlot positions its legend and cursor with inline styles.
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

const bundleFiles = new Map([
  ['main.js', 'text/javascript; charset=utf-8'],
  ['main.css', 'text/css; charset=utf-8'],
  ['main.js.map', 'application/json; charset=utf-8'],
  ['main.css.map', 'application/json; charset=utf-8'],
]);

async function readOrNull(path: string): Promise<Buffer | null> {
  try {
    return await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

export function buildReportApp(options: ReportAppOptions): FastifyInstance {
  const app = Fastify({ logger: options.logger ?? false });

  app.addHook('onSend', async (_request, reply) => {
    reply.header('content-security-policy', contentSecurityPolicy);
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
  });

  registerApiRoutes(app, options.store, options.dbPath);
  registerLiveEvents(app, options.store, options.liveCheckMs ?? 1000);

  app.get('/', async (_request, reply) => {
    reply.type('text/html; charset=utf-8').header('cache-control', 'no-store');
    let store: StoreReader | null;
    try {
      store = await options.store();
    } catch (error) {
      return reply.code(500).send(storeErrorPage(options.dbPath, error));
    }
    if (!store) return noRunsPage(options.dbPath, 'missing');
    if ((await store.queryRuns({ limit: 0 })).total === 0) return noRunsPage(options.dbPath, 'empty');
    const index = await readOrNull(join(options.publicDir, 'index.html'));
    const bundle = await readOrNull(join(options.publicDir, 'build', 'main.js'));
    if (!index || !bundle) return reply.code(500).send(bundleMissingPage());
    return index;
  });

  // Browsers ask for it on every page; there is none, and a 404 would be noise in the console.
  app.get('/favicon.ico', (_request, reply) => reply.code(204).send());

  // Only the bundle's known files: nothing else under public/ is reachable.
  app.get<{ Params: { file: string } }>('/build/:file', async (request, reply) => {
    const type = bundleFiles.get(request.params.file);
    const content = type ? await readOrNull(join(options.publicDir, 'build', request.params.file)) : null;
    if (!type || !content) return reply.code(404).send({ error: 'not found' });
    return reply.type(type).header('cache-control', 'no-cache').send(content);
  });

  return app;
}
