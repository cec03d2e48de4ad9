import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore, StoreVersionError } from '../src/index';
import { migrate, MIGRATIONS, schemaVersion } from '../src/migrations';
import { openSqliteStore } from '../src/sqlite';
import { experimentInput, tempDirs } from './helpers';

const dirs = tempDirs();
afterEach(() => dirs.removeAll());

const tooNew = (version: number) => new Error(`too new: ${version}`);

describe('migrations', () => {
  it('brings a new file to the latest version, and opening it again applies nothing', async () => {
    const path = join(dirs.make(), 'nested', 'folders', 'facegan.db');
    const store = await openStore(path);
    await store.upsertExperiment(experimentInput);
    await store.close();

    const db = new Database(path);
    expect(schemaVersion(db)).toBe(MIGRATIONS.length);
    expect(migrate(db, MIGRATIONS, tooNew)).toBe(0);
    db.close();

    const again = await openStore(path);
    expect(await again.listExperiments()).toHaveLength(1);
    await again.close();
  });

  it('applies only the pending migrations, each exactly once', () => {
    const db = new Database(':memory:');
    const counting = ['CREATE TABLE applied (migration INTEGER)', 'INSERT INTO applied VALUES (2)'];
    expect(migrate(db, counting.slice(0, 1), tooNew)).toBe(1);
    expect(migrate(db, counting, tooNew)).toBe(1);
    expect(migrate(db, counting, tooNew)).toBe(0);
    expect(db.prepare('SELECT migration FROM applied').pluck().all()).toEqual([2]);
    expect(schemaVersion(db)).toBe(2);
    db.close();
  });

  it('rolls a failing migration back whole, leaving the version where it was', () => {
    const db = new Database(':memory:');
    const broken = ['CREATE TABLE a (x INTEGER)', 'CREATE TABLE b (x INTEGER); INSERT INTO nowhere VALUES (1)'];
    expect(() => migrate(db, broken, tooNew)).toThrow(/nowhere/);
    expect(schemaVersion(db)).toBe(1);
    expect(db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table'").pluck().all()).toEqual(['a']);
    db.close();
  });

  it('upgrades a store at version 1 to a newer facegan, keeping its data', async () => {
    const path = join(dirs.make(), 'facegan.db');
    const v1 = openSqliteStore(path, {}, MIGRATIONS.slice(0, 1));
    const experiment = await v1.upsertExperiment(experimentInput);
    await v1.close();

    const newer = [...MIGRATIONS.slice(0, 1), "ALTER TABLE experiments ADD COLUMN owner TEXT NOT NULL DEFAULT 'nobody'"];
    const v2 = openSqliteStore(path, {}, newer);
    expect(await v2.getExperiment(experiment.id)).toEqual(experiment);
    await v2.close();

    const db = new Database(path, { readonly: true });
    expect(schemaVersion(db)).toBe(2);
    expect(db.prepare('SELECT owner FROM experiments').pluck().get()).toBe('nobody');
    db.close();
  });

  it('refuses a store written by a newer facegan, for writing and for reading', async () => {
    const path = join(dirs.make(), 'facegan.db');
    const newer = openSqliteStore(path, {}, [...MIGRATIONS, 'CREATE TABLE from_the_future (x INTEGER)']);
    await newer.close();

    await expect(openStore(path)).rejects.toThrow(StoreVersionError);
    await expect(openStore(path, { readonly: true })).rejects.toThrow(/newer than this code knows/);
  });

  it('lets a read-only store read an older but compatible schema, and refuses an uninitialized file', async () => {
    const path = join(dirs.make(), 'facegan.db');
    const current = await openStore(path);
    await current.upsertExperiment(experimentInput);
    await current.close();

    const newerCodeReader = openSqliteStore(path, { readonly: true }, [...MIGRATIONS, 'SELECT 1']);
    expect(await newerCodeReader.listExperiments()).toHaveLength(1);
    await newerCodeReader.close();

    const emptyPath = join(dirs.make(), 'empty.db');
    new Database(emptyPath).close();
    const error = await openStore(emptyPath, { readonly: true }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreVersionError);
    expect((error as StoreVersionError).foundVersion).toBe(0);
  });
});
