import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { MetricRow, Store } from '../src/index';
import { EPOCH_SUMMARY_STEP, openStore } from '../src/index';
import { MIGRATIONS } from '../src/migrations';
import { openSqliteStore } from '../src/sqlite';
import { experimentInput, makePng, summaryRows, tempDirs } from './helpers';

const dirs = tempDirs();
let path: string;
let store: Store;

beforeEach(async () => {
  path = join(dirs.make(), 'facegan.db');
  store = await openStore(path);
});
afterEach(async () => {
  await store.close();
  dirs.removeAll();
});

async function startedRun(variantId = 'v1') {
  const experiment = await store.upsertExperiment(experimentInput);
  const run = await store.ensureRun({ experimentId: experiment.id, variantId, label: variantId, settings: {} });
  await store.startRun(run.id, { backend: 'cpu', device: 'cpu' });
  return run;
}

/** Epoch `epoch` as the runner commits it: two step rows (global steps 2e-2, 2e-1) and the summary, and a grid. */
async function commitEpoch(runId: number, epoch: number) {
  const steps: MetricRow[] = [2 * epoch - 2, 2 * epoch - 1].map((step) => ({ epoch, step, name: 'g_loss', value: step, time: 0 }));
  await store.commitEpoch(runId, epoch, [...steps, ...summaryRows(epoch, { g_loss: epoch })], makePng(4 + epoch, 4));
}

describe('checkpoints', () => {
  it('records checkpoints by epoch; recording an epoch again replaces it', async () => {
    const run = await startedRun();
    expect(await store.listCheckpoints(run.id)).toEqual([]);
    await store.recordCheckpoint(run.id, { epoch: 4, globalStep: 8, path: 'quickstart/v1/epoch-0004' });
    await store.recordCheckpoint(run.id, { epoch: 2, globalStep: 4, path: 'quickstart/v1/epoch-0002' });
    await store.recordCheckpoint(run.id, { epoch: 4, globalStep: 9, path: 'quickstart/v1/epoch-0004b' });
    const checkpoints = await store.listCheckpoints(run.id);
    expect(checkpoints).toEqual([
      { runId: run.id, epoch: 2, globalStep: 4, path: 'quickstart/v1/epoch-0002', createdAt: expect.any(String) },
      { runId: run.id, epoch: 4, globalStep: 9, path: 'quickstart/v1/epoch-0004b', createdAt: expect.any(String) },
    ]);
    const other = await startedRun('v2');
    expect(await store.listCheckpoints(other.id)).toEqual([]);
  });

  it('rejects a checkpoint of a missing run, epoch 0, a negative step or an empty path', async () => {
    const run = await startedRun();
    await expect(store.recordCheckpoint(999, { epoch: 1, globalStep: 0, path: 'x' })).rejects.toThrow(/does not exist/);
    await expect(store.recordCheckpoint(run.id, { epoch: 0, globalStep: 0, path: 'x' })).rejects.toThrow(RangeError);
    await expect(store.recordCheckpoint(run.id, { epoch: 1, globalStep: -1, path: 'x' })).rejects.toThrow(RangeError);
    await expect(store.recordCheckpoint(run.id, { epoch: 1, globalStep: 0, path: '' })).rejects.toThrow(RangeError);
  });

  it('rewindRun forgets the metrics, grids and checkpoints after the epoch, and only those', async () => {
    const run = await startedRun();
    const other = await startedRun('v2');
    for (let epoch = 1; epoch <= 5; epoch++) {
      await commitEpoch(run.id, epoch);
      await commitEpoch(other.id, epoch);
    }
    await store.recordCheckpoint(run.id, { epoch: 2, globalStep: 4, path: 'a' });
    await store.recordCheckpoint(run.id, { epoch: 4, globalStep: 8, path: 'b' });

    await store.rewindRun(run.id, 2);

    const rewound = await store.getRun(run.id);
    expect(rewound?.epochsDone).toBe(2);
    expect(rewound?.lastMetrics).toEqual({ g_loss: 2 });
    const metrics = await store.getMetrics(run.id);
    expect(metrics.filter((row) => row.step === EPOCH_SUMMARY_STEP).map((row) => row.epoch)).toEqual([1, 2]);
    expect(metrics.filter((row) => row.step !== EPOCH_SUMMARY_STEP).map((row) => row.step)).toEqual([0, 1, 2, 3]);
    expect((await store.listGrids(run.id)).map((grid) => grid.epoch)).toEqual([1, 2]);
    expect((await store.listCheckpoints(run.id)).map((c) => c.epoch)).toEqual([2]);
    // the other run keeps everything
    expect((await store.getRun(other.id))?.epochsDone).toBe(5);
    expect((await store.listGrids(other.id)).map((grid) => grid.epoch)).toEqual([1, 2, 3, 4, 5]);

    // redoing epoch 3 then commits it once
    await commitEpoch(run.id, 3);
    const summaries = (await store.getMetrics(run.id, ['g_loss'])).filter((row) => row.step === EPOCH_SUMMARY_STEP);
    expect(summaries.map((row) => row.epoch)).toEqual([1, 2, 3]);

    await store.rewindRun(run.id, 0);
    expect((await store.getRun(run.id))?.epochsDone).toBe(0);
    expect(await store.getMetrics(run.id)).toEqual([]);
    expect(await store.listCheckpoints(run.id)).toEqual([]);
  });

  it('rewindRun never moves epochsDone forward, and rejects a negative epoch', async () => {
    const run = await startedRun();
    await commitEpoch(run.id, 1);
    await store.rewindRun(run.id, 3);
    expect((await store.getRun(run.id))?.epochsDone).toBe(1);
    await expect(store.rewindRun(run.id, -1)).rejects.toThrow(RangeError);
    await expect(store.rewindRun(999, 1)).rejects.toThrow(/does not exist/);
  });

  it('deleting a run deletes its checkpoint records', async () => {
    const run = await startedRun();
    await store.recordCheckpoint(run.id, { epoch: 1, globalStep: 2, path: 'a' });
    await store.close();
    const Database = (await import('better-sqlite3')).default;
    const db = new Database(path);
    db.pragma('foreign_keys = ON');
    db.prepare('DELETE FROM runs WHERE id = ?').run(run.id);
    expect(db.prepare('SELECT count(*) FROM checkpoints').pluck().get()).toBe(0);
    db.close();
    store = await openStore(path);
  });

  it('a read-only store written before checkpoints existed lists none', async () => {
    await store.close();
    const oldPath = join(dirs.make(), 'old.db');
    const v1 = openSqliteStore(oldPath, {}, MIGRATIONS.slice(0, 1));
    const experiment = await v1.upsertExperiment(experimentInput);
    const run = await v1.ensureRun({ experimentId: experiment.id, variantId: 'v1', label: 'v1', settings: {} });
    await v1.close();
    store = await openStore(oldPath, { readonly: true });
    expect(await store.listCheckpoints(run.id)).toEqual([]);
  });
});
