import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EPOCH_SUMMARY_STEP, openStore } from '@facegan/store';
import { runCli } from './cli';

/** The smoke sweep with the judge on, every epoch, on as many samples as training images. */
const JUDGED_SPEC = `
experiment: judged
dataset: { source: cartoon, size: 16, seed: 3 }
model: { resolution: 32, width: 0.125 }
train: { epochs: 2, batchSize: 8, logEvery: 1 }
engine: { backend: wasm }
judge: { every: 1, samples: 16 }
sweep:
  dataset.where: [ { gender: male }, {} ]
`;

describe('runner sweep with the judge on', () => {
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'facegan-judged-'));
    writeFileSync(join(dir, 'judged.yaml'), JUDGED_SPEC);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('judges every epoch and stores the metrics with the epoch summary', async () => {
    const db = join(dir, 'judged.db');
    // the cartoon classifier trains here once (next to the database), on faces rendered into this cache
    const result = await runCli(['sweep', '--spec', join(dir, 'judged.yaml'), '--db', db, '--cache', join(dir, 'cache')]);
    expect(result.stderr).not.toMatch(/Error/);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/judge epoch 1: faces \d+% men (\d+% \[\d+–\d+\]|–) swd \d+\.\d/);
    expect(result.stdout).not.toMatch(/judge epoch \d+ failed/);
    expect(result.stdout.match(/judge epoch \d+:/g)).toHaveLength(4);
    expect(existsSync(join(dir, 'judge', 'cartoon-32', 'classifier.json'))).toBe(true);

    const store = await openStore(db, { readonly: true });
    try {
      const runs = await store.listRuns();
      expect(runs).toHaveLength(2);
      for (const run of runs) {
        expect(run.status).toBe('done');
        const names = ['swd_mean', 'face_rate', 'share_male', 'judged_images'];
        const rows = (await store.getMetrics(run.id, names)).filter((row) => row.step === EPOCH_SUMMARY_STEP);
        for (const name of names) expect(rows.filter((row) => row.name === name).map((row) => row.epoch)).toEqual([1, 2]);
        expect(rows.find((row) => row.name === 'judged_images')?.value).toBe(16);
        expect(rows.filter((row) => row.name === 'swd_mean').every((row) => row.value > 0)).toBe(true);
        expect(rows.filter((row) => row.name === 'face_rate').every((row) => row.value >= 0 && row.value <= 1)).toBe(true);
      }
    } finally {
      await store.close();
    }
  });
});
