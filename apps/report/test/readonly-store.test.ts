import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readonlyStoreSource } from '../src/server/readonly-store';
import { seedDatabase } from './seed-database';

describe('readonlyStoreSource', () => {
  it('answers null while the database does not exist, then opens it read-only once it does', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'report-store-')), 'facegan.db');
    const { source, close } = readonlyStoreSource(path);
    expect(await source()).toBeNull();

    await seedDatabase(path);
    const store = await source();
    expect(store).not.toBeNull();
    expect(await source()).toBe(store);
    const runs = await store!.listRuns();
    expect(runs.map((run) => run.epochsDone)).toEqual([3, 3]);
    // The report's connection is read-only: the store refuses writes through it.
    await expect((store as unknown as { finishRun(id: number, s: string): Promise<void> }).finishRun(runs[0].id, 'failed')).rejects.toThrow();
    await close();
    rmSync(dirname(path), { recursive: true, force: true });
  });
});
