import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildReportApp } from '../src/server/app';
import { readonlyStoreSource } from '../src/server/readonly-store';
import { seedDatabase } from './seed-database';

/** The runs table's route over a real SQLite database, read-only, as the report serves it. */
describe('GET /api/runs on SQLite', () => {
  let dir: string;
  let app: FastifyInstance;
  let store: ReturnType<typeof readonlyStoreSource>;
  let runIds: number[];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'report-runs-'));
    const dbPath = join(dir, 'facegan.db');
    ({ runIds } = await seedDatabase(dbPath));
    store = readonlyStoreSource(dbPath);
    app = buildReportApp({ store: store.source, dbPath, publicDir: dir });
  });
  afterAll(async () => {
    await app.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const ids = async (query: string) => {
    const response = await app.inject(`/api/runs?${query}`);
    expect(response.statusCode, response.body).toBe(200);
    return response.json().runs.map((run: { id: number }) => run.id);
  };

  it('filters by a setting named by its last key, and by a final metric', async () => {
    expect(await ids(`q=${encodeURIComponent('lr<0.00015')}`)).toEqual([runIds[1]]);
    expect(await ids(`q=${encodeURIComponent('training.lr=0.0002 status=done')}`)).toEqual([runIds[0]]);
    expect(await ids(`q=${encodeURIComponent('g_loss>1.7')}`)).toEqual([runIds[1]]);
    expect(await ids('q=female')).toEqual([runIds[1]]);
  });

  it('sorts and groups by settings and final metrics, paging on the server', async () => {
    expect(await ids('sort=g_loss&order=desc')).toEqual([runIds[1], runIds[0]]);
    expect(await ids('sort=training.lr')).toEqual([runIds[1], runIds[0]]);
    expect(await ids('sort=g_loss&limit=1&offset=1')).toEqual([runIds[1]]);
    const grouped = (await app.inject('/api/runs?group=dataset.size')).json();
    expect(grouped.groups).toEqual([{ value: 64, count: 2, start: 0 }]);
  });

  it('lists the settings that can be filtered on', async () => {
    const fields = (await app.inject('/api/fields')).json();
    expect(fields.settings.map((s: { path: string }) => s.path)).toEqual(['dataset.size', 'training.epochs', 'training.lr']);
    expect(fields.metrics).toContain('g_loss');
    expect(fields.runs).toBe(2);
  });
});
