import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunQuery, Store } from '../src/index';
import { openStore } from '../src/index';
import { MIGRATIONS } from '../src/migrations';
import { runQuerySql } from '../src/run-query';
import { READ_QUERIES } from '../src/sqlite';
import { experimentInput, summaryRows, tempDirs } from './helpers';

const dirs = tempDirs();
let path: string;
let writer: Store;
let reader: Store;
/** Run ids by variant id. */
const ids: Record<string, number> = {};

/**
 * Six runs of two experiments: a sweep over dataset.where and dropout, one failed run without metrics, one
 * diverged run whose last g_loss is NaN, and one run whose settings lack `model.dropout`.
 */
beforeAll(async () => {
  path = join(dirs.make(), 'facegan.db');
  writer = await openStore(path);
  const faces = await writer.upsertExperiment(experimentInput);
  const other = await writer.upsertExperiment({ ...experimentInput, name: 'lr-sweep', specHash: 'other' });
  const runs: Array<[number, string, string, Record<string, unknown>, Record<string, number> | null, string]> = [
    [faces.id, 'male25', 'gender=male dropout=0.25', { dataset: { where: { gender: 'male' } }, model: { dropout: 0.25 } }, { g_loss: 1.5, d_acc_real: 0.6 }, 'done'],
    [faces.id, 'male50', 'gender=male dropout=0.5', { dataset: { where: { gender: 'male' } }, model: { dropout: 0.5 } }, { g_loss: 0.9, d_acc_real: 0.7 }, 'done'],
    [faces.id, 'mixed25', 'where=all dropout=0.25', { dataset: { where: {} }, model: { dropout: 0.25 } }, { g_loss: 1.2, d_acc_real: 0.5 }, 'done'],
    [faces.id, 'mixed50', 'where=all dropout=0.5', { dataset: { where: {} }, model: { dropout: 0.5 } }, { g_loss: Number.NaN }, 'diverged'],
    [other.id, 'lr1', 'lr=1e-4', { dataset: { where: {} }, train: { lr: 0.0001, tags: ['a', 'b'] } }, null, 'failed'],
    [other.id, 'lr2', 'lr=2e-4 <b>', { dataset: { where: { gender: 'female' } }, train: { lr: 0.0002, tags: ['a'] } }, { g_loss: 2 }, 'running'],
  ];
  for (const [experimentId, variantId, label, settings, last, status] of runs) {
    const run = await writer.ensureRun({ experimentId, variantId, label, settings });
    ids[variantId] = run.id;
    await writer.startRun(run.id, { backend: variantId === 'lr2' ? 'webgpu' : 'wasm', device: 'test box' });
    if (last) {
      await writer.commitEpoch(run.id, 1, summaryRows(1, { g_loss: 9, d_acc_real: 0 }), null);
      await writer.commitEpoch(run.id, 2, summaryRows(2, last), null);
    }
    if (status !== 'running') await writer.finishRun(run.id, status as 'done' | 'failed' | 'diverged');
  }
  reader = await openStore(path, { readonly: true });
});

afterAll(async () => {
  await reader.close();
  await writer.close();
  dirs.removeAll();
});

async function variants(query: RunQuery): Promise<string[]> {
  return (await reader.queryRuns({ limit: 100, ...query })).runs.map((run) => run.variantId);
}

describe('queryRuns', () => {
  it('pages the runs by experiment then id by default, with the total and full records', async () => {
    const page = await reader.queryRuns({ offset: 2, limit: 2 });
    expect(page.total).toBe(6);
    expect(page.groups).toBeNull();
    expect(page.runs.map((run) => run.variantId)).toEqual(['mixed25', 'mixed50']);
    expect(page.runs[0]).toEqual(await reader.getRun(ids.mixed25));
    expect(page.runs[0].lastMetrics).toEqual({ g_loss: 1.2, d_acc_real: 0.5 });
    expect(page.runs[1].lastMetrics.g_loss).toBeNaN();
    expect((await reader.queryRuns({ offset: 6 })).runs).toEqual([]);
    expect((await reader.queryRuns({ limit: 0 })).total).toBe(6);
  });

  it('finds every word of the text in names, labels, variant ids, status, backend or device', async () => {
    expect(await variants({ text: 'MALE dropout=0.5' })).toEqual(['male50']);
    expect(await variants({ text: 'lr-sweep webgpu' })).toEqual(['lr2']);
    expect(await variants({ text: 'diverged' })).toEqual(['mixed50']);
    expect(await variants({ text: '<b>' })).toEqual(['lr2']);
    expect(await variants({ text: 'nothing-like-this' })).toEqual([]);
  });

  it('filters by a setting: value, JSON text, numbers, negation, ranges and substrings', async () => {
    const where = (field: string, op: string, value: string | number) =>
      variants({ where: [{ field: field as `settings.${string}`, op: op as '=', value }] });
    expect(await where('settings.dataset.where.gender', '=', 'male')).toEqual(['male25', 'male50']);
    expect(await where('settings.dataset.where', '=', '{}')).toEqual(['mixed25', 'mixed50', 'lr1']);
    expect(await where('settings.dataset.where', '=', '{"gender":"female"}')).toEqual(['lr2']);
    expect(await where('settings.model.dropout', '=', 0.25)).toEqual(['male25', 'mixed25']);
    expect(await where('settings.model.dropout', '!=', 0.25)).toEqual(['male50', 'mixed50', 'lr1', 'lr2']);
    expect(await where('settings.model.dropout', '>', 0.3)).toEqual(['male50', 'mixed50']);
    expect(await where('settings.train.lr', '<=', 0.0001)).toEqual(['lr1']);
    expect(await where('settings.train.tags', '~', '"b"')).toEqual(['lr1']);
    expect(await where('settings.dataset.where', '~', 'FEMALE')).toEqual(['lr2']);
  });

  it('filters by run fields and final metrics, all conditions together', async () => {
    expect(await variants({ where: [{ field: 'status', op: '=', value: 'done' }] })).toEqual(['male25', 'male50', 'mixed25']);
    expect(await variants({ where: [{ field: 'metrics.g_loss', op: '<', value: 1.3 }] })).toEqual(['male50', 'mixed25']);
    expect(await variants({ where: [{ field: 'epochs', op: '=', value: 0 }] })).toEqual(['lr1']);
    expect(await variants({ where: [{ field: 'id', op: '=', value: String(ids.lr2) }] })).toEqual(['lr2']);
    expect(
      await variants({
        text: 'male',
        where: [
          { field: 'metrics.d_acc_real', op: '>=', value: 0.6 },
          { field: 'settings.model.dropout', op: '=', value: 0.5 },
        ],
      }),
    ).toEqual(['male50']);
  });

  it('sorts by any field, blanks and NaN last in both directions, ties by run id', async () => {
    const sort = (field: string, descending = false) => variants({ sort: { field: field as 'id', descending } });
    expect(await sort('metrics.g_loss')).toEqual(['male50', 'mixed25', 'male25', 'lr2', 'mixed50', 'lr1']);
    expect(await sort('metrics.g_loss', true)).toEqual(['lr2', 'male25', 'mixed25', 'male50', 'mixed50', 'lr1']);
    expect(await sort('settings.model.dropout', true)).toEqual(['male50', 'mixed50', 'male25', 'mixed25', 'lr1', 'lr2']);
    expect(await sort('id', true)).toEqual(['lr2', 'lr1', 'mixed50', 'mixed25', 'male50', 'male25']);
    expect(await sort('backend')).toEqual(['male25', 'male50', 'mixed25', 'mixed50', 'lr1', 'lr2']);
    expect(await sort('experiment', true)).toEqual(['male25', 'male50', 'mixed25', 'mixed50', 'lr1', 'lr2']);
  });

  it('groups by a field: runs ordered by group, every group counted with where it starts', async () => {
    const page = await reader.queryRuns({
      groupBy: 'settings.dataset.where.gender',
      sort: { field: 'metrics.g_loss' },
      offset: 1,
      limit: 3,
    });
    expect(page.total).toBe(6);
    expect(page.groups).toEqual([
      { value: 'female', count: 1, start: 0 },
      { value: 'male', count: 2, start: 1 },
      { value: null, count: 3, start: 3 },
    ]);
    expect(page.runs.map((run) => run.variantId)).toEqual(['male50', 'male25', 'mixed25']);
    const byObject = await reader.queryRuns({ groupBy: 'settings.dataset.where', where: [{ field: 'status', op: '!=', value: 'failed' }] });
    expect(byObject.groups?.map((g) => [g.value, g.count])).toEqual([
      ['{"gender":"female"}', 1],
      ['{"gender":"male"}', 2],
      ['{}', 2],
    ]);
  });

  it('rejects malformed fields, operators and pages with a RangeError', async () => {
    const bad: RunQuery[] = [
      { sort: { field: 'nope' as 'id' } },
      { groupBy: 'settings.a"b' as 'id' },
      { where: [{ field: 'settings.', op: '=', value: 1 }] },
      { where: [{ field: 'metrics.', op: '=', value: 1 }] },
      { where: [{ field: 'status', op: 'LIKE' as '=', value: 'x' }] },
      { where: [{ field: 'status', op: '=', value: null as unknown as string }] },
      { limit: 5000 },
      { offset: -1 },
    ];
    for (const query of bad) await expect(reader.queryRuns(query), JSON.stringify(query)).rejects.toThrow(RangeError);
  });

  it('sends every value as a bound parameter, never as SQL text', () => {
    const hostile = `x'); DROP TABLE runs; --`;
    const sql = runQuerySql({
      text: hostile,
      where: [{ field: 'settings.model.dropout', op: '~', value: hostile }],
      sort: { field: `metrics.${hostile}` as 'id' },
    });
    expect(`${sql.count} ${sql.page}`).not.toContain('DROP');
    expect(Object.values(sql.params)).toContain(hostile);
  });
});

describe('listRunFields', () => {
  it('lists leaf setting paths with how many runs have them and how many values they take, and metric names', async () => {
    const fields = await reader.listRunFields();
    expect(fields.runs).toBe(6);
    expect(fields.metrics).toEqual(['d_acc_real', 'g_loss']);
    expect(fields.settings).toEqual([
      { path: 'dataset.where.gender', runs: 3, values: 2 },
      { path: 'model.dropout', runs: 4, values: 2 },
      { path: 'train.lr', runs: 2, values: 2 },
      { path: 'train.tags', runs: 2, values: 2 },
    ]);
  });
});

describe('dataVersion', () => {
  it('changes when a writer commits, and not otherwise', async () => {
    const before = await reader.dataVersion();
    expect(await reader.dataVersion()).toBe(before);
    await reader.queryRuns({});
    expect(await reader.dataVersion()).toBe(before);
    await writer.finishRun(ids.lr2, 'done');
    const after = await reader.dataVersion();
    expect(after).not.toBe(before);
    expect((await reader.getRun(ids.lr2))?.status).toBe('done');
    const writerBefore = await writer.dataVersion();
    await writer.setDatasetSummary(ids.lr2, { counts: {} });
    expect(await writer.dataVersion()).not.toBe(writerBefore);
  });
});

describe('query plans', () => {
  function plan(db: Database.Database, sql: string, params: Record<string, unknown>): string {
    return (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(params) as Array<{ detail: string }>).map((row) => row.detail).join('\n');
  }

  it('reads a page of runs and their final metrics by primary key, and a metric field by primary key', () => {
    const db = new Database(':memory:');
    db.exec(MIGRATIONS.join(';'));
    expect(plan(db, READ_QUERIES.runsByIds, { ids: '[1,2]' })).toMatch(/SEARCH r USING INTEGER PRIMARY KEY/);
    const lastMetrics = plan(db, READ_QUERIES.lastMetricsOfRunIds, { ids: '[1,2]' });
    expect(lastMetrics).toContain('SEARCH m USING PRIMARY KEY (run_id=? AND name_id=? AND epoch=? AND step=?)');
    expect(lastMetrics).not.toMatch(/SCAN m\b/);
    const sorted = runQuerySql({ sort: { field: 'metrics.g_loss' }, where: [{ field: 'metrics.g_loss', op: '<', value: 1 }] });
    const sortPlan = plan(db, sorted.page, sorted.params);
    expect(sortPlan).toContain('SEARCH m USING PRIMARY KEY (run_id=? AND name_id=? AND epoch=? AND step=?)');
    expect(sortPlan).not.toMatch(/SCAN m\b/);
    db.close();
  });
});
