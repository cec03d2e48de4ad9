import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '@facegan/store';
import { runCli } from './cli';

const SMOKE_SPEC = `
experiment: smoke
description: "<b>tiny</b> men only against mixed"
dataset: { source: cartoon, size: 16, seed: 3 }
model: { resolution: 32, width: 0.125 }
train: { epochs: 2, batchSize: 8, logEvery: 1 }
engine: { backend: wasm }
judge: { enabled: false }
sweep:
  dataset.where: [ { gender: male }, {} ]
`;

describe('runner sweep, end to end on tiny cartoon data', () => {
  let dir: string;
  let db: string;
  let cache: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'facegan-smoke-'));
    db = join(dir, 'smoke.db');
    cache = join(dir, 'cache');
    writeFileSync(join(dir, 'smoke.yaml'), SMOKE_SPEC);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('trains every variant and stores metrics and grids', async () => {
    const result = await runCli(['sweep', '--spec', join(dir, 'smoke.yaml'), '--db', db, '--cache', cache]);
    expect(result.stderr).not.toMatch(/Error/);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/epoch 2\/2/);

    const store = await openStore(db, { readonly: true });
    try {
      const runs = await store.listRuns();
      expect(runs).toHaveLength(2);
      for (const run of runs) {
        expect(run.status).toBe('done');
        expect(run.backend).toBe('wasm');
        expect(run.epochsDone).toBe(2);
        expect(Object.keys(run.lastMetrics).sort()).toEqual(
          expect.arrayContaining(['d_acc_fake', 'd_acc_real', 'd_loss_fake', 'd_loss_real', 'g_loss']),
        );
        const epochRows = (await store.getMetrics(run.id, ['g_loss'])).filter((row) => row.step === -1);
        expect(epochRows.map((row) => row.epoch)).toEqual([1, 2]);
        const grids = await store.listGrids(run.id);
        expect(grids.map((grid) => grid.epoch)).toEqual([1, 2]);
        const png = await store.getGridPng(grids[1].id);
        const meta = await sharp(png as Buffer).metadata();
        expect(meta.format).toBe('png');
        expect(meta.width).toBeGreaterThan(7 * 32);
      }
      const menOnly = runs.find((run) => JSON.stringify(run.settings).includes('"male"'));
      expect(menOnly?.datasetSummary).toMatchObject({ counts: { gender: { male: 16 } } });
    } finally {
      await store.close();
    }
  });

  it('skips the variants already done when the same spec runs again', async () => {
    const result = await runCli(['sweep', '--spec', join(dir, 'smoke.yaml'), '--db', db, '--cache', cache]);
    expect(result.code).toBe(0);
    expect(result.stdout.match(/skip \w+ .*: done/g)).toHaveLength(2);
  });

  it('rejects a bad spec with exit code 2, the file and line, and writes nothing', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'experiment: bad\nmodel:\n  resolution: 100\n');
    const freshDb = join(dir, 'never.db');
    const result = await runCli(['sweep', '--spec', bad, '--db', freshDb]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`${bad}:3:15`);
    expect(result.stderr).toMatch(/multiple of 32/);
    expect(existsSync(freshDb)).toBe(false);
  });

  it('prints the variant table on --dry-run and trains nothing', async () => {
    const freshDb = join(dir, 'dry.db');
    const result = await runCli(['sweep', '--spec', join(dir, 'smoke.yaml'), '--db', freshDb, '--dry-run']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/gender=male/);
    expect(existsSync(freshDb)).toBe(false);
  });
});
