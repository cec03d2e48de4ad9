import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EPOCH_SUMMARY_STEP, openStore, type MetricRow } from '@facegan/store';
import { experimentFindings, UnknownExperimentError } from './experiment-findings';
import { findingsRun } from './findings-run';

const workspaceRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');

const judged = (male: number, low: number, high: number, swd: number) => ({
  swd_mean: swd,
  swd_32: swd + 1,
  msssim_fake: 0.25,
  msssim_real: 0.12,
  face_rate: 0.9,
  face_rate_low: 0.85,
  face_rate_high: 0.94,
  face_rate_real: 1,
  share_male: male,
  share_male_low: low,
  share_male_high: high,
});

/** Men only against mixed, 3 epochs each; epochs 2 and 3 judged for the first, only epoch 2 for the second (a run stopped early). */
async function seed(path: string): Promise<void> {
  const store = await openStore(path);
  try {
    const experiment = await store.upsertExperiment({ name: 'men', description: '', specText: 'experiment: men\n', specHash: 'h', specFile: 'men.yaml' });
    await store.upsertExperiment({ name: 'other', description: '', specText: 'experiment: other\n', specHash: 'o', specFile: 'other.yaml' });
    const variants = [
      { id: 'aaa', label: 'dataset.where={"gender":"male"}', counts: { gender: { male: 16, female: 0 } }, judgedAt: { 2: judged(0.7, 0.5, 0.8, 90), 3: judged(0.9, 0.7, 0.97, 60) } },
      { id: 'bbb', label: '', counts: { gender: { male: 8, female: 8 } }, judgedAt: { 2: judged(0.5, 0.3, 0.7, 80) } },
    ];
    for (const variant of variants) {
      const run = await store.ensureRun({ experimentId: experiment.id, variantId: variant.id, label: variant.label, settings: {} });
      await store.startRun(run.id, { backend: 'cpu', device: 'test' });
      await store.setDatasetSummary(run.id, { source: 'cartoon', counts: variant.counts });
      for (let epoch = 1; epoch <= 3; epoch++) {
        const metrics: Record<string, number> = { d_acc_real: 0.5 + epoch / 10, d_acc_fake: 0.4 + epoch / 10, ...(variant.judgedAt as Record<number, object>)[epoch] };
        const rows: MetricRow[] = Object.entries(metrics).map(([name, value]) => ({ epoch, step: EPOCH_SUMMARY_STEP, name, value, time: Date.now() }));
        rows.push({ epoch, step: epoch * 10, name: 'swd_mean', value: 1, time: Date.now() });
        await store.commitEpoch(run.id, epoch, rows, null);
      }
      await store.finishRun(run.id, 'done');
    }
  } finally {
    await store.close();
  }
}

describe('experiment findings', () => {
  let dir: string;
  let db: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'facegan-findings-'));
    db = join(dir, 'findings.db');
    await seed(db);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads each run: data counts, D accuracy of the last epoch, the last judged epoch', async () => {
    const store = await openStore(db, { readonly: true });
    try {
      const [run] = await store.listRuns();
      const findings = findingsRun(run, await store.getMetrics(run.id));
      expect(findings).toMatchObject({ label: run.label, status: 'done', epochsDone: 3, counts: { gender: { male: 16, female: 0 } } });
      expect(findings.lastMetrics).toMatchObject({ d_acc_real: 0.8, d_acc_fake: 0.7 });
      expect(findings.judged?.epoch).toBe(3);
      expect(findings.judged?.metrics).toMatchObject({ share_male: 0.9, swd_mean: 60 });
      expect(findingsRun({ ...run, datasetSummary: null }, []).judged).toBeNull();
      // as the report's API sends them: NaN (no faces) as null
      const fromJson = findingsRun(JSON.parse(JSON.stringify(run)), [
        { epoch: 2, step: EPOCH_SUMMARY_STEP, name: 'swd_mean', value: 80, time: 0 },
        { epoch: 2, step: EPOCH_SUMMARY_STEP, name: 'share_male', value: null as unknown as number, time: 0 },
      ]);
      expect(fromJson.judged).toEqual({ epoch: 2, metrics: { swd_mean: 80, share_male: NaN } });
    } finally {
      await store.close();
    }
  });

  it('prints the table of every run of the experiment', async () => {
    const store = await openStore(db, { readonly: true });
    try {
      const table = await experimentFindings(store, 'men');
      expect(table).toContain('## men');
      expect(table).toContain('| dataset.where={"gender":"male"} | done | epoch 3 of 3 | 100% | 90% [70–97] | 90% [85–94] (100%) | 60.0 | 0.250 / 0.120 | 80% / 70% |');
      expect(table).toContain('| (all) | done | epoch 2 of 3 | 50% | 50% [30–70] |');
      await expect(experimentFindings(store, 'nope')).rejects.toThrow(UnknownExperimentError);
      await expect(experimentFindings(store, 'nope')).rejects.toThrow('(it has: men, other)');
    } finally {
      await store.close();
    }
  });

  it('runs as report:findings', async () => {
    const tsx = join(workspaceRoot, 'node_modules', '.bin', 'tsx');
    const command = ['--tsconfig', 'apps/report/tsconfig.json', 'apps/report/src/findings-command.ts'];
    const { stdout } = await promisify(execFile)(tsx, [...command, '--experiment', 'men', '--db', db], { cwd: workspaceRoot });
    expect(stdout).toContain('| variant | status | judged at | men: data | men: generated |');
    const missing = promisify(execFile)(tsx, [...command, '--experiment', 'nope', '--db', db], { cwd: workspaceRoot });
    await expect(missing).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining('no experiment "nope"') });
  });
});
