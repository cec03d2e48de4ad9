import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildReportApp } from '../src/server/app';
import type { StoreSource } from '../src/server/store-source';
import { FakeStore } from './fake-store';

const hostileName = '<img src=x onerror="alert(1)">';

const publicDirs: string[] = [];
afterAll(() => publicDirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

function fakePublicDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'report-public-'));
  publicDirs.push(dir);
  mkdirSync(join(dir, 'build'));
  writeFileSync(join(dir, 'index.html'), '<!doctype html><title>facegan report</title><main id="app"></main>');
  writeFileSync(join(dir, 'build', 'main.js'), 'console.log("client")');
  writeFileSync(join(dir, 'secret.txt'), 'not for the web');
  return dir;
}

function seededStore(): FakeStore {
  const store = new FakeStore();
  const faces = store.addExperiment({ name: hostileName, description: '<b>bold</b>' });
  const other = store.addExperiment({ name: 'other' });
  const first = store.addRun(faces, { label: '<script>alert(1)</script>', status: 'running', epochsDone: 2 });
  store.addRun(other, { status: 'done' });
  store.metrics.set(first.id, [
    { epoch: 1, step: -1, name: 'g_loss', value: 1.5, time: 1 },
    { epoch: 1, step: -1, name: 'd_loss_real', value: 0.7, time: 1 },
    { epoch: 1, step: 10, name: 'g_loss', value: 1.2, time: 1 },
  ]);
  store.addGrid(first.id, 1, Buffer.from('png-epoch-1'));
  store.addGrid(first.id, 2, Buffer.from('png-epoch-2'));
  return store;
}

describe('report routes', () => {
  let store: FakeStore;
  let app: FastifyInstance;
  let source: StoreSource;

  beforeEach(() => {
    store = seededStore();
    source = async () => store;
    app = buildReportApp({ store: () => source(), dbPath: '/data/runs/facegan.db', publicDir: fakePublicDir() });
  });
  afterEach(() => app.close());

  it('lists experiments as JSON, with user text untouched and nosniff/CSP headers', async () => {
    const response = await app.inject('/api/experiments');
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    expect(response.headers['x-content-type-options']).toBe('nosniff');
    expect(response.headers['content-security-policy']).toContain("script-src 'self'");
    expect(response.json().map((e: { name: string }) => e.name)).toEqual([hostileName, 'other']);
  });

  it('answers a page of runs, filtered by experiment and status, and rejects bad filters', async () => {
    const all = (await app.inject('/api/runs')).json();
    expect(all).toMatchObject({ total: 2, offset: 0, limit: 50, groups: null });
    expect(all.runs.map((r: { id: number }) => r.id)).toEqual([1, 2]);
    const byExperiment = (await app.inject('/api/runs?experimentId=2')).json();
    expect(byExperiment.runs.map((r: { id: number }) => r.id)).toEqual([2]);
    expect((await app.inject('/api/runs?experimentId=9')).json().total).toBe(0);
    const running = (await app.inject('/api/runs?status=running')).json();
    expect(running.runs.map((r: { id: number }) => r.id)).toEqual([1]);
    expect((await app.inject('/api/runs?status=bogus')).statusCode).toBe(400);
    expect((await app.inject('/api/runs?experimentId=1%20OR%201=1')).statusCode).toBe(400);
  });

  it('turns the filter text, sort, group and page into a store query, resolving short field names', async () => {
    const q = encodeURIComponent('male status=done dropout<0.5 g_loss>=1e-3 label~"lr 2"');
    const response = await app.inject(`/api/runs?q=${q}&sort=g_loss&order=desc&group=model.dropout&offset=50&limit=25`);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ offset: 50, limit: 25 });
    expect(store.queries.at(-1)).toEqual({
      text: 'male',
      where: [
        { field: 'status', op: '=', value: 'done' },
        { field: 'settings.model.dropout', op: '<', value: 0.5 },
        { field: 'metrics.g_loss', op: '>=', value: 0.001 },
        { field: 'label', op: '~', value: 'lr 2' },
      ],
      sort: { field: 'metrics.g_loss', descending: true },
      groupBy: 'settings.model.dropout',
      offset: 50,
      limit: 25,
    });
    for (const bad of ['q=nosuchfield%3D1', 'sort=bogus', 'order=up', 'limit=100000', 'offset=-1', 'group=x']) {
      const reply = await app.inject(`/api/runs?${bad}`);
      expect(reply.statusCode, bad).toBe(400);
      expect(reply.json().error, bad).toBeTruthy();
    }
  });

  it('lists the fields the runs table can use, and one experiment with its spec', async () => {
    const fields = (await app.inject('/api/fields')).json();
    expect(fields.columns).toContain('status');
    expect(fields.settings).toEqual([{ path: 'model.dropout', runs: 2, values: 2 }]);
    expect(fields.metrics).toEqual(['g_loss']);
    const experiment = (await app.inject('/api/experiments/1')).json();
    expect(experiment).toMatchObject({ name: hostileName, description: '<b>bold</b>', specText: 'name: x' });
    expect((await app.inject('/api/experiments/9')).statusCode).toBe(404);
    expect((await app.inject('/api/experiments/x')).statusCode).toBe(400);
  });

  it('exports the metrics of one run or several as CSV and JSON downloads', async () => {
    store.metrics.get(1)!.push({ epoch: 2, step: -1, name: 'g_loss', value: Number.NaN, time: 2 });
    const csv = await app.inject('/api/export/metrics.csv?runs=1,2');
    expect(csv.statusCode).toBe(200);
    expect(csv.headers['content-type']).toMatch(/^text\/csv/);
    expect(csv.headers['content-disposition']).toBe('attachment; filename="facegan-runs-1-2-metrics.csv"');
    expect(csv.body.split('\r\n')).toEqual([
      'run_id,experiment,variant_id,label,epoch,step,name,value,time',
      '1,"<img src=x onerror=""alert(1)"">",v1,<script>alert(1)</script>,1,-1,g_loss,1.5,1',
      '1,"<img src=x onerror=""alert(1)"">",v1,<script>alert(1)</script>,1,-1,d_loss_real,0.7,1',
      '1,"<img src=x onerror=""alert(1)"">",v1,<script>alert(1)</script>,1,10,g_loss,1.2,1',
      '1,"<img src=x onerror=""alert(1)"">",v1,<script>alert(1)</script>,2,-1,g_loss,NaN,2',
      '',
    ]);
    const json = await app.inject('/api/export/metrics.json?runs=1');
    expect(json.headers['content-disposition']).toBe('attachment; filename="facegan-run-1-metrics.json"');
    const body = json.json();
    expect(body.runs).toHaveLength(1);
    expect(body.runs[0]).toMatchObject({ id: 1, label: '<script>alert(1)</script>', settings: { epochs: 3 } });
    expect(body.runs[0].metrics.at(-1)).toEqual({ epoch: 2, step: -1, name: 'g_loss', value: null, time: 2 });
    expect((await app.inject('/api/export/metrics.csv?runs=1,7')).statusCode).toBe(404);
    expect((await app.inject('/api/export/metrics.xml?runs=1')).statusCode).toBe(404);
    for (const runs of ['', '1,x', '0', Array.from({ length: 101 }, (_, i) => i + 1).join(',')]) {
      expect((await app.inject(`/api/export/metrics.csv?runs=${runs}`)).statusCode, runs).toBe(400);
    }
  });

  it('answers one run, 404 for an unknown one and 400 for ids that are not plain positive integers', async () => {
    const run = await app.inject('/api/runs/1');
    expect(run.statusCode).toBe(200);
    expect(run.json().label).toBe('<script>alert(1)</script>');
    expect((await app.inject('/api/runs/999')).statusCode).toBe(404);
    for (const id of ['abc', '-1', '0', '01', '1e3', '1.5', '99999999999999999']) {
      expect((await app.inject(`/api/runs/${id}`)).statusCode, id).toBe(400);
    }
  });

  it('returns metrics, optionally by name', async () => {
    expect((await app.inject('/api/runs/1/metrics')).json()).toHaveLength(3);
    const gLoss = (await app.inject('/api/runs/1/metrics?names=g_loss')).json();
    expect(gLoss.map((row: { step: number }) => row.step)).toEqual([-1, 10]);
    expect((await app.inject('/api/runs/1/metrics?names=g_loss,%3Cx%3E')).statusCode).toBe(400);
    expect((await app.inject('/api/runs/42/metrics')).statusCode).toBe(404);
    const epochOnly = (await app.inject('/api/runs/1/metrics?stepPoints=0')).json();
    expect(epochOnly.map((row: { step: number }) => row.step)).toEqual([-1, -1]);
    expect((await app.inject('/api/runs/1/metrics?stepPoints=5')).json()).toHaveLength(3);
    expect((await app.inject('/api/runs/1/metrics?stepPoints=-3')).statusCode).toBe(400);
  });

  it('lists grids with their image url and serves the PNG bytes by numeric id', async () => {
    const grids = (await app.inject('/api/runs/1/grids')).json();
    expect(grids).toEqual([
      { id: 1, runId: 1, epoch: 1, width: 4, height: 4, url: '/api/grids/1.png' },
      { id: 2, runId: 1, epoch: 2, width: 4, height: 4, url: '/api/grids/2.png' },
    ]);
    const image = await app.inject('/api/grids/2.png');
    expect(image.statusCode).toBe(200);
    expect(image.headers['content-type']).toBe('image/png');
    expect(image.rawPayload.toString()).toBe('png-epoch-2');
    expect((await app.inject('/api/runs/7/grids')).statusCode).toBe(404);
  });

  it('serves images by numeric id only', async () => {
    for (const url of ['/api/grids/99.png', '/api/grids/abc.png', '/api/grids/1', '/api/grids/..%2F..%2Fsecret.png', '/api/grids/1.png.png']) {
      const response = await app.inject(url);
      expect(response.statusCode, url).toBe(404);
      expect(response.headers['content-type'], url).not.toBe('image/png');
    }
  });

  it('serves the app page and the bundle, and nothing else from the public folder', async () => {
    const page = await app.inject('/');
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('id="app"');
    expect((await app.inject('/build/main.js')).headers['content-type']).toMatch(/^text\/javascript/);
    for (const url of ['/build/constructor', '/build/..%2Fsecret.txt', '/secret.txt', '/index.html/../secret.txt']) {
      expect((await app.inject(url)).statusCode, url).toBe(404);
    }
  });

  it('shows a helpful page naming the escaped db path when the database is missing, and 503 from the API', async () => {
    source = async () => null;
    await app.close();
    app = buildReportApp({ store: () => source(), dbPath: '/tmp/<b>odd</b>/facegan.db', publicDir: fakePublicDir() });
    const page = await app.inject('/');
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.body).toContain('No runs yet');
    expect(page.body).toContain('npx nx run runner:sweep --spec experiments/quickstart.yaml');
    expect(page.body).toContain('/tmp/&lt;b&gt;odd&lt;/b&gt;/facegan.db');
    expect(page.body).not.toContain('<b>odd</b>');
    const api = await app.inject('/api/runs');
    expect(api.statusCode).toBe(503);
    expect(api.json().hint).toContain('runner:sweep');
  });

  it('shows the same page for a database without runs', async () => {
    source = async () => new FakeStore();
    const page = await app.inject('/');
    expect(page.body).toContain('The database has no runs');
    expect(page.body).toContain('/data/runs/facegan.db');
    expect((await app.inject('/api/runs')).json()).toMatchObject({ total: 0, runs: [] });
  });

  it('picks the database up once it appears', async () => {
    source = async () => null;
    expect((await app.inject('/api/experiments')).statusCode).toBe(503);
    source = async () => store;
    expect((await app.inject('/api/experiments')).statusCode).toBe(200);
  });
});
