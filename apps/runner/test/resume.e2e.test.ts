import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EPOCH_SUMMARY_STEP, openStore, type MetricRow, type RunRecord, type Store } from '@facegan/store';
import { runCli, startCli } from './cli';

/** 16 images, batch 4: 4 steps an epoch; a checkpoint after epochs 2, 4 and 6. */
const EPOCHS = 6;
const STEPS_PER_EPOCH = 4;
const SPEC = `
experiment: resume
dataset: { source: cartoon, size: 16, seed: 5 }
model: { resolution: 32, width: 0.125 }
train: { epochs: ${EPOCHS}, batchSize: 4, logEvery: 1 }
engine: { backend: wasm, checkpointEvery: 2 }
judge: { enabled: false }
`;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The run once `ready` holds, polling the store as the sweep writes it. */
async function waitForRun(db: string, ready: (run: RunRecord) => boolean, timeoutMs: number): Promise<RunRecord> {
  const deadline = Date.now() + timeoutMs;
  let store: Store | undefined;
  try {
    while (Date.now() < deadline) {
      if (!store && existsSync(db)) store = await openStore(db, { readonly: true }).catch(() => undefined);
      const [run] = store ? await store.listRuns().catch(() => []) : [];
      if (run && ready(run)) return run;
      await sleep(20);
    }
    throw new Error(`the run did not get there in ${timeoutMs} ms`);
  } finally {
    await store?.close();
  }
}

describe('runner sweep, killed with SIGKILL mid-epoch and run again', () => {
  let dir: string;
  let db: string;
  let args: string[];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'facegan-resume-'));
    db = join(dir, 'runs', 'facegan.db');
    writeFileSync(join(dir, 'resume.yaml'), SPEC);
    args = ['sweep', '--spec', join(dir, 'resume.yaml'), '--db', db, '--cache', join(dir, 'cache')];
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('resumes from its last checkpoint and ends with every epoch 1..E recorded exactly once', async () => {
    const first = startCli(args);
    let killedAt: RunRecord;
    let historyBeforeKill: MetricRow[];
    try {
      // past the epoch-2 checkpoint and into epoch 4: epochs_done ≥ 3 is committed after the checkpoint is recorded
      killedAt = await waitForRun(db, (run) => run.epochsDone >= 3, 120_000);
      await sleep(60); // into epoch 4's steps (an epoch takes ~0.3 s here)
      process.kill(-(first.child.pid as number), 'SIGKILL');
    } catch (error) {
      process.kill(-(first.child.pid as number), 'SIGKILL');
      throw new Error(`${String(error)}\n${(await first.result).stdout}\n${(await first.result).stderr}`);
    }
    const killed = await first.result;
    expect(killed.signal).toBe('SIGKILL');

    const store = await openStore(db, { readonly: true });
    try {
      const [run] = await store.listRuns();
      // killed mid-run: still marked running, some epochs done, not all
      expect(run.status).toBe('running');
      expect(run.epochsDone).toBeGreaterThanOrEqual(killedAt.epochsDone);
      expect(run.epochsDone).toBeLessThan(EPOCHS);
      const checkpoints = await store.listCheckpoints(run.id);
      expect(checkpoints.length).toBeGreaterThanOrEqual(1);
      const resumeEpoch = checkpoints[checkpoints.length - 1].epoch;
      process.stdout.write(`killed with epochs 1-${run.epochsDone} committed; last checkpoint after epoch ${resumeEpoch}\n`);
      historyBeforeKill = (await store.getMetrics(run.id)).filter((row) => row.epoch <= resumeEpoch);

      const second = await runCli(args);
      expect(second.stderr).not.toMatch(/Error/);
      expect(second.code).toBe(0);
      // it resumed rather than starting again at epoch 1
      expect(second.stdout).toMatch(new RegExp(`resuming ${run.variantId} base from epoch ${resumeEpoch} `));
      expect(second.stdout).not.toMatch(/epoch 1\/6/);
      expect(second.stdout).toMatch(/epoch 6\/6/);
    } finally {
      await store.close();
    }

    const after = await openStore(db, { readonly: true });
    try {
      const [run] = await after.listRuns();
      expect(run).toMatchObject({ status: 'done', epochsDone: EPOCHS, backend: 'wasm' });
      const rows = await after.getMetrics(run.id);
      const names = [...new Set(rows.map((row) => row.name))].sort();
      expect(names).toEqual(['d_acc_fake', 'd_acc_real', 'd_loss_fake', 'd_loss_real', 'epoch_seconds', 'g_loss', 'img_per_s']);
      for (const name of ['d_loss_real', 'd_loss_fake', 'g_loss']) {
        const series = rows.filter((row) => row.name === name);
        // one summary per epoch, 1..E
        expect(series.filter((row) => row.step === EPOCH_SUMMARY_STEP).map((row) => row.epoch)).toEqual([1, 2, 3, 4, 5, 6]);
        // one row per global step 1..E·S (steps done, this one included), each in its own epoch
        const steps = series.filter((row) => row.step !== EPOCH_SUMMARY_STEP);
        expect(steps.map((row) => row.step)).toEqual(Array.from({ length: EPOCHS * STEPS_PER_EPOCH }, (_, i) => i + 1));
        for (const row of steps) expect(row.epoch).toBe(Math.floor((row.step - 1) / STEPS_PER_EPOCH) + 1);
        for (const row of series) expect(Number.isFinite(row.value)).toBe(true);
      }
      // the history up to the checkpoint is the one written before the kill
      const resumeEpoch = Math.max(...historyBeforeKill.map((row) => row.epoch));
      expect(rows.filter((row) => row.epoch <= resumeEpoch)).toEqual(historyBeforeKill);

      expect((await after.listGrids(run.id)).map((grid) => grid.epoch)).toEqual([1, 2, 3, 4, 5, 6]);
      expect((await after.listCheckpoints(run.id)).map((c) => c.epoch)).toEqual([2, 4, 6]);
      const variantFolder = join(dir, 'runs', 'resume', run.variantId);
      expect(readdirSync(variantFolder).sort()).toEqual(['epoch-0002', 'epoch-0004', 'epoch-0006']);
    } finally {
      await after.close();
    }
  });

  it('samples a grid and an interpolation strip from the stored checkpoints', async () => {
    const grid = join(dir, 'grid.png');
    const sample = await runCli(['sample', '--run', '1', '--epoch', '3', '--n', '64', '--out', grid, '--db', db, '--backend', 'wasm']);
    expect(sample.stderr).toBe('');
    expect(sample.code).toBe(0);
    // the nearest checkpoint at or before epoch 3
    expect(sample.stdout).toMatch(/64 samples of run 1 .*epoch 2 checkpoint, seed 1/);
    // 8 × 8 tiles of 32 px, 2 px apart
    expect(await sharp(grid).metadata()).toMatchObject({ format: 'png', width: 270, height: 270 });

    const strip = join(dir, 'strip.png');
    const interpolate = await runCli(['sample', '--run', '1', '--interpolate', '--out', strip, '--db', db, '--backend', 'wasm', '--seed', '7']);
    expect(interpolate.code).toBe(0);
    expect(interpolate.stdout).toMatch(/8 interpolations of 10 steps of run 1 .*epoch 6 checkpoint, seed 7/);
    expect(await sharp(strip).metadata()).toMatchObject({ width: 10 * 32 + 9 * 2, height: 8 * 32 + 7 * 2 });

  });
});
