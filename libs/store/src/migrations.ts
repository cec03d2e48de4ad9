import type Database from 'better-sqlite3';
import { EPOCH_SUMMARY_STEP } from './types';

/**
 * Schema migrations, in order: migration i brings the schema from version i to i + 1 (PRAGMA user_version).
 * Append only; never edit a released entry.
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE experiments (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    spec_text   TEXT NOT NULL,
    spec_hash   TEXT NOT NULL,
    spec_file   TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    UNIQUE (name)
  ) STRICT;

  CREATE TABLE runs (
    id                   INTEGER PRIMARY KEY,
    experiment_id        INTEGER NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
    variant_id           TEXT NOT NULL,
    label                TEXT NOT NULL,
    settings_json        TEXT NOT NULL CHECK (json_valid(settings_json)),
    status               TEXT NOT NULL DEFAULT 'queued'
                         CHECK (status IN ('queued', 'running', 'done', 'failed', 'diverged')),
    backend              TEXT,
    device               TEXT,
    error                TEXT,
    created_at           TEXT NOT NULL,
    started_at           TEXT,
    finished_at          TEXT,
    epochs_done          INTEGER NOT NULL DEFAULT 0,
    dataset_summary_json TEXT CHECK (dataset_summary_json IS NULL OR json_valid(dataset_summary_json)),
    UNIQUE (experiment_id, variant_id)
  ) STRICT;

  -- Metric names are stored once; metric rows carry a small integer instead.
  CREATE TABLE metric_names (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
  ) STRICT;

  -- The primary key is the clustered index: one run's series of one metric is a contiguous range, already in
  -- (epoch, step) order. A NULL value is a NaN (SQLite stores NaN as NULL).
  CREATE TABLE metrics (
    run_id  INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    name_id INTEGER NOT NULL REFERENCES metric_names (id),
    epoch   INTEGER NOT NULL CHECK (epoch >= 1),
    step    INTEGER NOT NULL CHECK (step >= ${EPOCH_SUMMARY_STEP}),
    value   REAL,
    time    INTEGER NOT NULL,
    PRIMARY KEY (run_id, name_id, epoch, step)
  ) STRICT, WITHOUT ROWID;

  -- AUTOINCREMENT so that a replaced grid never gets the id of the one it replaced: grid ids can be cached forever.
  CREATE TABLE grids (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id  INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    epoch   INTEGER NOT NULL,
    width   INTEGER NOT NULL,
    height  INTEGER NOT NULL,
    png     BLOB NOT NULL,
    UNIQUE (run_id, epoch)
  ) STRICT;
  `,
  `
  -- Where a run's checkpoints lie (weights, optimizer state, step count), so a killed run resumes from the last one
  -- and the sample command draws from any of them. The path is relative to the database's folder.
  CREATE TABLE checkpoints (
    run_id      INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    epoch       INTEGER NOT NULL CHECK (epoch >= 1),
    global_step INTEGER NOT NULL CHECK (global_step >= 0),
    path        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (run_id, epoch)
  ) STRICT;
  `,
];

/**
 * The oldest schema version the read queries of this code work on, so a read-only store (which cannot migrate)
 * still opens a store written by an older facegan. Raise it when a migration changes what the read queries use.
 */
export const MIN_READABLE_VERSION = 1;

export function schemaVersion(db: Database.Database): number {
  return db.pragma('user_version', { simple: true }) as number;
}

/**
 * Applies the pending migrations, each in its own IMMEDIATE transaction together with the version bump, so a crash
 * leaves the schema at a whole version, and a second process migrating at the same time waits and then skips.
 * Returns the number of migrations applied; throws `tooNew(version)` if the store is newer than `migrations`.
 */
export function migrate(db: Database.Database, migrations: readonly string[], tooNew: (version: number) => Error): number {
  const applyNext = db.transaction((): boolean => {
    const version = schemaVersion(db);
    if (version > migrations.length) throw tooNew(version);
    if (version === migrations.length) return false;
    db.exec(migrations[version]);
    db.pragma(`user_version = ${version + 1}`);
    return true;
  });
  let applied = 0;
  while (applyNext.immediate()) applied++;
  return applied;
}
