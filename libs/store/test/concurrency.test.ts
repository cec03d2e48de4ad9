import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { EPOCH_SUMMARY_STEP, openStore } from '../src/index';
import { CRASH_WRITER, experimentInput, makePng, summaryRows, tempDirs } from './helpers';

const { SUMMARY_NAMES, STEPS_PER_EPOCH } = CRASH_WRITER;

const dirs = tempDirs();
afterEach(() => dirs.removeAll());

describe('concurrent access', () => {
  it('a read-only reader follows a writer through WAL, seeing only committed epochs', async () => {
    const path = join(dirs.make(), 'facegan.db');
    const writer = await openStore(path);
    const experiment = await writer.upsertExperiment(experimentInput);
    const run = await writer.ensureRun({ experimentId: experiment.id, variantId: 'v', label: '', settings: {} });
    const reader = await openStore(path, { readonly: true });
    try {
      expect((await reader.getRun(run.id))?.epochsDone).toBe(0);
      for (let epoch = 1; epoch <= 3; epoch++) {
        await writer.commitEpoch(run.id, epoch, summaryRows(epoch, { loss_g: 1 / epoch }), makePng(4, 4));
        const seen = await reader.getRun(run.id);
        expect(seen?.epochsDone).toBe(epoch);
        expect(seen?.lastMetrics).toEqual({ loss_g: 1 / epoch });
        expect(await reader.listGrids(run.id)).toHaveLength(epoch);
      }
      // A second writer (another runner process) waits for the lock rather than failing.
      const secondWriter = await openStore(path);
      await secondWriter.finishRun(run.id, 'done');
      await secondWriter.close();
      expect((await reader.getRun(run.id))?.status).toBe('done');
    } finally {
      await reader.close();
      await writer.close();
    }
  });

  it('a writer killed at any moment leaves whole epochs only, and a resumed writer carries on', async () => {
    const path = join(dirs.make(), 'facegan.db');
    const script = fileURLToPath(new URL('./fixtures/crash-writer.ts', import.meta.url));
    let previouslyDone = 0;
    for (const delayMs of [0, 37, 150]) {
      const child = spawn(process.execPath, ['--import', 'tsx', script, path], { stdio: ['ignore', 'pipe', 'inherit'] });
      const exited = new Promise((resolve) => child.on('exit', resolve));
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', () => resolve());
        child.on('exit', (code) => reject(new Error(`crash writer exited early with ${code}`)));
      });
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      child.kill('SIGKILL');
      await exited;

      const reader = await openStore(path, { readonly: true });
      const [run] = await reader.listRuns();
      const metrics = await reader.getMetrics(run.id);
      const grids = await reader.listGrids(run.id);
      await reader.close();

      const done = run.epochsDone;
      expect(done).toBeGreaterThanOrEqual(previouslyDone + 2);
      previouslyDone = done;
      expect(run.lastMetrics).toEqual(Object.fromEntries(SUMMARY_NAMES.map((name) => [name, done])));
      expect(grids.map((g) => g.epoch)).toEqual(Array.from({ length: done }, (_, i) => i + 1));
      const summaries = metrics.filter((m) => m.step === EPOCH_SUMMARY_STEP);
      expect(summaries).toHaveLength(done * SUMMARY_NAMES.length);
      expect(metrics.length - summaries.length).toBe(done * STEPS_PER_EPOCH);
      expect(Math.max(...metrics.map((m) => m.epoch))).toBe(done);
      console.log(`killed after ${delayMs} ms: ${done} whole epochs, ${metrics.length} metric rows`);
      // The next writer (the resumed run) opens the store after the crash without trouble.
      await (await openStore(path)).close();
    }
  });
});
