import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { MetricRow, Store } from '../src/index';
import { EPOCH_SUMMARY_STEP, openStore, StoreMissingError } from '../src/index';
import { experimentInput, makePng, summaryRows, tempDirs } from './helpers';

const dirs = tempDirs();
let path: string;
let store: Store;

beforeEach(async () => {
  path = join(dirs.make(), 'runs', 'facegan.db');
  store = await openStore(path);
});
afterEach(async () => {
  await store.close();
  dirs.removeAll();
});

const isoDate = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

async function queuedRun(variantId = 'v1') {
  const experiment = await store.upsertExperiment(experimentInput);
  return store.ensureRun({
    experimentId: experiment.id,
    variantId,
    label: `lr=${variantId}`,
    settings: { training: { lr: 0.0002 }, dataset: { where: { gender: 'male' } } },
  });
}

function stepRow(epoch: number, step: number, name: string, value: number): MetricRow {
  return { epoch, step, name, value, time: 1_700_000_000_000 + step };
}

describe('experiments', () => {
  it('round-trips an experiment; the same name again keeps its id and runs, and takes the newest spec', async () => {
    const created = await store.upsertExperiment(experimentInput);
    expect(created).toEqual({ id: expect.any(Number), ...experimentInput, createdAt: expect.stringMatching(isoDate) });
    expect(await store.upsertExperiment(experimentInput)).toEqual(created);

    const edited = await store.upsertExperiment({ ...experimentInput, description: 'changed', specHash: 'sha256:def' });
    expect(edited).toEqual({ ...created, description: 'changed', specHash: 'sha256:def' });

    expect(await store.listExperiments()).toEqual([edited]);
    expect(await store.getExperiment(created.id)).toEqual(edited);
    expect(await store.getExperiment(9999)).toBeNull();
  });
});

describe('runs', () => {
  it('creates a queued run, and ensureRun returns the existing run unchanged', async () => {
    const run = await queuedRun();
    expect(run).toEqual({
      id: expect.any(Number),
      experimentId: expect.any(Number),
      experimentName: 'quickstart',
      variantId: 'v1',
      label: 'lr=v1',
      settings: { training: { lr: 0.0002 }, dataset: { where: { gender: 'male' } } },
      status: 'queued',
      backend: null,
      device: null,
      error: null,
      createdAt: expect.stringMatching(isoDate),
      startedAt: null,
      finishedAt: null,
      epochsDone: 0,
      lastMetrics: {},
      datasetSummary: null,
    });

    await store.startRun(run.id, { backend: 'tensorflow', device: 'cpu' });
    const again = await store.ensureRun({ experimentId: run.experimentId, variantId: 'v1', label: 'other', settings: {} });
    expect(again).toMatchObject({ id: run.id, label: 'lr=v1', status: 'running', settings: run.settings });
    expect(await store.listRuns()).toHaveLength(1);
  });

  it('records the life of a run: start, dataset summary, finish', async () => {
    const run = await queuedRun();
    await store.startRun(run.id, { backend: 'webgpu', device: 'NVIDIA H100' });
    await store.setDatasetSummary(run.id, { total: 1000, gender: { male: 600, female: 400 } });
    let current = await store.getRun(run.id);
    expect(current).toMatchObject({ status: 'running', backend: 'webgpu', device: 'NVIDIA H100', finishedAt: null });
    expect(current?.startedAt).toMatch(isoDate);
    expect(current?.datasetSummary).toEqual({ total: 1000, gender: { male: 600, female: 400 } });

    await store.finishRun(run.id, 'diverged', 'loss_d is NaN at epoch 3');
    current = await store.getRun(run.id);
    expect(current).toMatchObject({ status: 'diverged', error: 'loss_d is NaN at epoch 3' });
    expect(current?.finishedAt).toMatch(isoDate);

    // A resumed run starts afresh: the old error and finish time go.
    await store.startRun(run.id, { backend: 'webgpu', device: 'NVIDIA H100' });
    expect(await store.getRun(run.id)).toMatchObject({ status: 'running', error: null, finishedAt: null });
    await store.finishRun(run.id, 'done');
    expect(await store.getRun(run.id)).toMatchObject({ status: 'done', error: null });
  });

  it('lists runs by experiment then id, with filters, and names the experiment', async () => {
    const first = await store.upsertExperiment(experimentInput);
    const second = await store.upsertExperiment({ ...experimentInput, name: 'sweep-lr', specHash: 'sha256:xyz' });
    const make = (experimentId: number, variantId: string) =>
      store.ensureRun({ experimentId, variantId, label: variantId, settings: {} });
    const b1 = await make(second.id, 'b1');
    const a1 = await make(first.id, 'a1');
    const b2 = await make(second.id, 'b2');
    const a2 = await make(first.id, 'a2');
    await store.startRun(b2.id, { backend: 'cpu', device: 'cpu' });

    const all = await store.listRuns();
    expect(all.map((r) => r.id)).toEqual([a1.id, a2.id, b1.id, b2.id]);
    expect(all.map((r) => r.experimentName)).toEqual(['quickstart', 'quickstart', 'sweep-lr', 'sweep-lr']);
    expect((await store.listRuns({ experimentId: second.id })).map((r) => r.id)).toEqual([b1.id, b2.id]);
    expect((await store.listRuns({ status: 'running' })).map((r) => r.id)).toEqual([b2.id]);
    expect(await store.listRuns({ experimentId: first.id, status: 'running' })).toEqual([]);
    expect(await store.getRun(9999)).toBeNull();
  });

  it('rejects writes to runs and experiments that do not exist', async () => {
    await expect(store.ensureRun({ experimentId: 42, variantId: 'v', label: '', settings: {} })).rejects.toThrow(
      /Experiment 42 does not exist/,
    );
    await expect(store.startRun(42, { backend: 'cpu', device: 'cpu' })).rejects.toThrow(/Run 42 does not exist/);
    await expect(store.setDatasetSummary(42, {})).rejects.toThrow(/Run 42/);
    await expect(store.finishRun(42, 'done')).rejects.toThrow(/Run 42/);
    await expect(store.logMetrics(42, [stepRow(1, 0, 'loss_d', 1)])).rejects.toThrow(/Run 42/);
    await expect(store.commitEpoch(42, 1, [], null)).rejects.toThrow(/Run 42/);
  });
});

describe('metrics and grids', () => {
  it('commits epochs: summary metrics, grid with its size, progress and last metrics', async () => {
    const run = await queuedRun();
    await store.logMetrics(run.id, [stepRow(1, 0, 'loss_g', 2.5), stepRow(1, 1, 'loss_g', 2.0)]);
    await store.commitEpoch(run.id, 1, summaryRows(1, { loss_g: 2.2, loss_d: 0.7 }), makePng(64, 32));
    await store.logMetrics(run.id, [stepRow(2, 2, 'loss_g', 1.5)]);
    await store.commitEpoch(run.id, 2, summaryRows(2, { loss_g: 1.4, loss_d: 0.6 }), makePng(64, 32));

    const current = await store.getRun(run.id);
    expect(current?.epochsDone).toBe(2);
    expect(current?.lastMetrics).toEqual({ loss_g: 1.4, loss_d: 0.6 });
    expect((await store.listRuns())[0].lastMetrics).toEqual({ loss_g: 1.4, loss_d: 0.6 });

    expect(await store.getMetrics(run.id)).toEqual([
      { epoch: 1, step: EPOCH_SUMMARY_STEP, name: 'loss_d', value: 0.7, time: 1_700_000_000_000 },
      { epoch: 2, step: EPOCH_SUMMARY_STEP, name: 'loss_d', value: 0.6, time: 1_700_000_000_000 },
      { epoch: 1, step: EPOCH_SUMMARY_STEP, name: 'loss_g', value: 2.2, time: 1_700_000_000_000 },
      stepRow(1, 0, 'loss_g', 2.5),
      stepRow(1, 1, 'loss_g', 2.0),
      { epoch: 2, step: EPOCH_SUMMARY_STEP, name: 'loss_g', value: 1.4, time: 1_700_000_000_000 },
      stepRow(2, 2, 'loss_g', 1.5),
    ]);
    expect((await store.getMetrics(run.id, ['loss_d'])).map((r) => r.value)).toEqual([0.7, 0.6]);
    expect(await store.getMetrics(run.id, [])).toEqual([]);
    expect(await store.getMetrics(run.id, ['nope'])).toEqual([]);

    const grids = await store.listGrids(run.id);
    expect(grids).toEqual([
      { id: expect.any(Number), runId: run.id, epoch: 1, width: 64, height: 32 },
      { id: expect.any(Number), runId: run.id, epoch: 2, width: 64, height: 32 },
    ]);
    expect(await store.getGridPng(grids[1].id)).toEqual(makePng(64, 32));
    expect(await store.getGridPng(9999)).toBeNull();
  });

  it('keeps metrics of separate runs apart', async () => {
    const a = await queuedRun('a');
    const b = await queuedRun('b');
    await store.commitEpoch(a.id, 1, summaryRows(1, { loss_g: 1 }), null);
    await store.commitEpoch(b.id, 1, summaryRows(1, { loss_g: 2, fid: 90 }), null);
    await store.commitEpoch(b.id, 2, summaryRows(2, { loss_g: 3 }), null);
    const runs = await store.listRuns();
    expect(runs.map((r) => [r.epochsDone, r.lastMetrics])).toEqual([
      [1, { loss_g: 1 }],
      [2, { loss_g: 3 }],
    ]);
    expect(await store.getMetrics(a.id)).toHaveLength(1);
  });

  it('re-committing an epoch replaces its summary and grid instead of adding to them', async () => {
    const run = await queuedRun();
    await store.commitEpoch(run.id, 1, summaryRows(1, { loss_g: 2 }), makePng(8, 8));
    await store.commitEpoch(run.id, 2, summaryRows(2, { loss_g: 1.5, stale: 1 }), makePng(8, 8));
    const [, firstGrid2] = await store.listGrids(run.id);

    // A resumed run redoes epoch 2 and logs its step rows again.
    await store.logMetrics(run.id, [stepRow(2, 10, 'loss_g', 1.7)]);
    await store.logMetrics(run.id, [stepRow(2, 10, 'loss_g', 1.6)]);
    await store.commitEpoch(run.id, 2, summaryRows(2, { loss_g: 1.4 }), makePng(16, 8));

    expect((await store.getRun(run.id))?.lastMetrics).toEqual({ loss_g: 1.4 });
    expect(await store.getMetrics(run.id)).toEqual([
      ...summaryRows(1, { loss_g: 2 }),
      ...summaryRows(2, { loss_g: 1.4 }),
      stepRow(2, 10, 'loss_g', 1.6),
    ]);
    const grids = await store.listGrids(run.id);
    expect(grids.map((g) => [g.epoch, g.width])).toEqual([
      [1, 8],
      [2, 16],
    ]);
    expect(grids[1].id).not.toBe(firstGrid2.id);
    expect(await store.getGridPng(firstGrid2.id)).toBeNull();

    await store.commitEpoch(run.id, 2, summaryRows(2, { loss_g: 1.3 }), null);
    expect((await store.listGrids(run.id)).map((g) => g.epoch)).toEqual([1]);
  });

  it('lets step rows ride along with commitEpoch', async () => {
    const run = await queuedRun();
    await store.commitEpoch(run.id, 1, [stepRow(1, 0, 'loss_d', 0.9), ...summaryRows(1, { loss_d: 0.8 })], null);
    expect((await store.getMetrics(run.id)).map((r) => r.step)).toEqual([EPOCH_SUMMARY_STEP, 0]);
    expect((await store.getRun(run.id))?.lastMetrics).toEqual({ loss_d: 0.8 });
  });

  it('keeps a NaN loss as NaN', async () => {
    const run = await queuedRun();
    await store.logMetrics(run.id, [stepRow(1, 0, 'loss_d', Number.NaN), stepRow(1, 1, 'loss_d', Infinity)]);
    await store.commitEpoch(run.id, 1, summaryRows(1, { loss_d: Number.NaN }), null);
    expect((await store.getMetrics(run.id)).map((r) => r.value)).toEqual([Number.NaN, Number.NaN, Infinity]);
    expect((await store.getRun(run.id))?.lastMetrics).toEqual({ loss_d: Number.NaN });
  });

  it('refuses rows that break the row convention', async () => {
    const run = await queuedRun();
    await expect(store.logMetrics(run.id, summaryRows(1, { loss_g: 1 }))).rejects.toThrow(/step >= 0/);
    await expect(store.logMetrics(run.id, [stepRow(0, 0, 'loss_g', 1)])).rejects.toThrow(/numbered from 1/);
    await expect(store.commitEpoch(run.id, 2, summaryRows(1, { loss_g: 1 }), null)).rejects.toThrow(/epoch 1/);
    await expect(store.commitEpoch(run.id, 0, [], null)).rejects.toThrow(/numbered from 1/);
    await expect(store.commitEpoch(run.id, 1, [], Buffer.from('GIF89a, not a png at all'))).rejects.toThrow(/not a PNG/);
    expect(await store.getMetrics(run.id)).toEqual([]);
    expect((await store.getRun(run.id))?.epochsDone).toBe(0);
  });

  it('commits all of an epoch or nothing of it', async () => {
    const run = await queuedRun();
    await store.commitEpoch(run.id, 1, summaryRows(1, { loss_g: 2 }), makePng(8, 8));
    // The second row fails inside the transaction (time is NOT NULL; NaN binds as NULL), after the first was written.
    const broken = [...summaryRows(2, { brand_new_metric: 1 }), { ...summaryRows(2, { loss_g: 1 })[0], time: Number.NaN }];
    await expect(store.commitEpoch(run.id, 2, broken, makePng(8, 8))).rejects.toThrow(/NOT NULL/);

    expect((await store.getRun(run.id))?.epochsDone).toBe(1);
    expect(await store.getMetrics(run.id)).toEqual(summaryRows(1, { loss_g: 2 }));
    expect((await store.listGrids(run.id)).map((g) => g.epoch)).toEqual([1]);

    // The metric name written by the rolled-back transaction must not linger in the writer's cache.
    await store.commitEpoch(run.id, 2, summaryRows(2, { brand_new_metric: 5 }), null);
    expect((await store.getRun(run.id))?.lastMetrics).toEqual({ brand_new_metric: 5 });
  });
});

describe('read-only stores', () => {
  it('throws StoreMissingError for a missing file, and creates nothing', async () => {
    const missing = join(dirs.make(), 'nope', 'facegan.db');
    const error = await openStore(missing, { readonly: true }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreMissingError);
    expect((error as StoreMissingError).path).toBe(missing);
    expect(existsSync(missing)).toBe(false);
  });

  it('reads everything, and every write throws', async () => {
    const run = await queuedRun();
    await store.commitEpoch(run.id, 1, summaryRows(1, { loss_g: 2 }), makePng(8, 8));
    await store.close();

    const reader = await openStore(path, { readonly: true });
    try {
      expect(await reader.listExperiments()).toHaveLength(1);
      expect(await reader.getExperiment(run.experimentId)).not.toBeNull();
      expect((await reader.getRun(run.id))?.lastMetrics).toEqual({ loss_g: 2 });
      expect(await reader.listRuns()).toHaveLength(1);
      expect(await reader.getMetrics(run.id)).toHaveLength(1);
      const [grid] = await reader.listGrids(run.id);
      expect(await reader.getGridPng(grid.id)).toEqual(makePng(8, 8));

      const writes: Array<() => Promise<unknown>> = [
        () => reader.upsertExperiment({ ...experimentInput, specHash: 'other' }),
        () => reader.ensureRun({ experimentId: run.experimentId, variantId: 'v9', label: '', settings: {} }),
        () => reader.startRun(run.id, { backend: 'cpu', device: 'cpu' }),
        () => reader.setDatasetSummary(run.id, {}),
        () => reader.logMetrics(run.id, [stepRow(1, 0, 'loss_g', 1)]),
        () => reader.commitEpoch(run.id, 2, [], null),
        () => reader.finishRun(run.id, 'done'),
      ];
      for (const write of writes) await expect(write()).rejects.toThrow(/read-only/);
      expect((await reader.getRun(run.id))?.status).toBe('queued');
    } finally {
      await reader.close();
    }
    store = await openStore(path); // for afterEach
  });

  it('close is idempotent', async () => {
    await store.close();
    await store.close();
    store = await openStore(path);
  });
});
