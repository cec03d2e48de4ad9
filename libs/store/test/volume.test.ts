import Database from 'better-sqlite3';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { MetricRow } from '../src/index';
import { openStore } from '../src/index';
import { MIGRATIONS } from '../src/migrations';
import { READ_QUERIES } from '../src/sqlite';
import { experimentInput, summaryRows, tempDirs } from './helpers';

const dirs = tempDirs();
afterEach(() => dirs.removeAll());

function queryPlan(db: Database.Database, sql: string, params: Record<string, unknown>): string[] {
  return (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(params) as Array<{ detail: string }>).map((row) => row.detail);
}

describe('volume', () => {
  it('the report read paths seek the metrics primary key and never sort metric rows', () => {
    const db = new Database(':memory:');
    db.exec(MIGRATIONS.join(';'));
    const noFilter = { runId: 1, experimentId: null, status: null };
    for (const names of [null, '["loss_g"]']) {
      const plan = queryPlan(db, READ_QUERIES.metricsOfRun, { runId: 1, names });
      expect(plan).toContain('SEARCH m USING PRIMARY KEY (run_id=? AND name_id=?)');
      expect(plan.join('\n')).not.toMatch(/TEMP B-TREE|SCAN m/);
    }
    const plan = queryPlan(db, READ_QUERIES.lastMetricsOfRuns, noFilter);
    expect(plan).toContain('SEARCH m USING PRIMARY KEY (run_id=? AND name_id=? AND epoch=? AND step=?)');
    db.close();
  });

  it('takes 200,000 metric rows and reads them back quickly (timings printed, not asserted)', async () => {
    const path = join(dirs.make(), 'facegan.db');
    const store = await openStore(path);
    const experiment = await store.upsertExperiment(experimentInput);
    const names = ['loss_d', 'loss_g', 'd_real', 'd_fake', 'lr'];
    const runCount = 4;
    const epochs = 40;
    const stepsPerEpoch = 250; // 4 runs x 40 epochs x 250 steps x 5 names = 200,000 step rows

    const started = performance.now();
    const runIds: number[] = [];
    for (let r = 0; r < runCount; r++) {
      const run = await store.ensureRun({ experimentId: experiment.id, variantId: `v${r}`, label: '', settings: {} });
      runIds.push(run.id);
      for (let epoch = 1; epoch <= epochs; epoch++) {
        const rows: MetricRow[] = [];
        for (let i = 0; i < stepsPerEpoch; i++) {
          const step = (epoch - 1) * stepsPerEpoch + i;
          for (const name of names) rows.push({ epoch, step, name, value: Math.random(), time: Date.now() });
        }
        await store.logMetrics(run.id, rows);
        await store.commitEpoch(run.id, epoch, summaryRows(epoch, Object.fromEntries(names.map((n) => [n, epoch]))), null);
      }
    }
    const written = performance.now();

    const reader = await openStore(path, { readonly: true });
    const runs = await reader.listRuns();
    const listed = performance.now();
    const metrics = await reader.getMetrics(runIds[0]);
    const readAll = performance.now();
    const oneSeries = await reader.getMetrics(runIds[0], ['loss_g']);
    const readOne = performance.now();
    await reader.close();
    await store.close();

    expect(runs.every((run) => run.epochsDone === epochs && run.lastMetrics.loss_g === epochs)).toBe(true);
    const perRun = epochs * (stepsPerEpoch + 1) * names.length;
    expect(metrics).toHaveLength(perRun);
    expect(oneSeries).toHaveLength(perRun / names.length);
    const megabytes = (statSync(path).size / 2 ** 20).toFixed(1);
    console.log(
      `${runCount * perRun} metric rows written in ${(written - started).toFixed(0)} ms (${megabytes} MiB); ` +
        `listRuns ${(listed - written).toFixed(1)} ms, getMetrics of a run (${perRun} rows) ` +
        `${(readAll - listed).toFixed(1)} ms, one series ${(readOne - readAll).toFixed(1)} ms`,
    );
  });
});
