import { dirname, join, relative, resolve } from 'node:path';
import { loadDataset } from '@facegan/data';
import {
  checkpointFitsSettings,
  initBackend,
  isResumableCheckpoint,
  readCheckpointState,
  trainVariant,
  type BackendInfo,
} from '@facegan/engine';
import { formatVariantTable, loadSpec, withBackend, type BackendName, type Settings, type ThreadCount, type Variant } from '@facegan/spec';
import { EPOCH_SUMMARY_STEP, openStore, type MetricRow, type RunRecord, type Store } from '@facegan/store';
import { createJudging, judgeEpoch, type Judging } from './judging';
import { createProgress, type Progress } from './progress';

export interface SweepOptions {
  spec: string;
  db: string;
  cache: string;
  backend?: BackendName;
  /** Overrides the spec's engine.threads. */
  threads?: ThreadCount;
  dryRun?: boolean;
  retryFailed?: boolean;
  /** Resuming is what running a spec again does anyway; the flag only says so. */
  resume?: boolean;
  quiet?: boolean;
}

/** A checkpoint a run can continue from. */
interface ResumePoint {
  epoch: number;
  folder: string;
}

type Plan =
  | { action: 'skip'; variant: Variant; run: RunRecord; reason: string; failure: boolean }
  | { action: 'train'; variant: Variant; run: RunRecord; resume: ResumePoint | null };

/**
 * Trains every variant of the spec that is not done yet; a variant a killed sweep left running goes
 * on from its last checkpoint. Resolves to the process exit code.
 */
export async function runSweep(options: SweepOptions): Promise<number> {
  const spec = loadSpec(options.spec);
  const variants = options.backend
    ? spec.variants.map((v) => ({ ...v, settings: withBackend(v.settings, options.backend as BackendName) }))
    : spec.variants;
  // the engine section is the spec's, not a variant's: one thread setting for the sweep
  const threads = options.threads ?? spec.variants[0]?.settings.engine.threads ?? 'auto';
  if (!options.quiet) {
    process.stdout.write(`${spec.name}: ${variants.length} variant${variants.length === 1 ? '' : 's'} from ${spec.file}\n`);
  }
  if (options.dryRun) {
    process.stdout.write(`${formatVariantTable(variants)}\n`);
    return 0;
  }

  const store = await openStore(options.db);
  // checkpoints live next to the database: <db folder>/<experiment>/<variant>/epoch-NNNN
  const runsFolder = dirname(resolve(options.db));
  try {
    const experiment = await store.upsertExperiment({
      name: spec.name,
      description: spec.description,
      specText: spec.text,
      specHash: spec.hash,
      specFile: spec.file,
    });
    const plans: Plan[] = [];
    for (const variant of variants) {
      const run = await store.ensureRun({
        experimentId: experiment.id,
        variantId: variant.id,
        label: variant.label,
        settings: variant.settings as unknown as Record<string, unknown>,
      });
      plans.push(await planRun(store, run, variant, options, runsFolder));
    }

    const progress = createProgress({
      quiet: options.quiet ?? false,
      variants: plans.length,
      epochs: plans.reduce((sum, p) => sum + (p.action === 'train' ? p.variant.settings.train.epochs - (p.resume?.epoch ?? 0) : 0), 0),
    });
    const backends = new Map<BackendName, BackendInfo>();
    const cacheDir = options.cache ?? join(runsFolder, 'cache');
    const context: TrainContext = {
      store,
      progress,
      cacheDir,
      judging: createJudging({ runsFolder, cacheDir }),
      specFolder: dirname(resolve(spec.file)),
      runsFolder,
      checkpointFolder: (variant) => join(runsFolder, experiment.name, variant.id),
      backend: async (name) => {
        let info = backends.get(name);
        if (!info) {
          info = await initBackend(name, { threads });
          backends.set(name, info);
          progress.log(describeBackend(name, info));
        }
        return info;
      },
    };

    let failures = 0;
    for (const plan of plans) {
      if (plan.action === 'skip') {
        progress.variantSkipped(plan.variant, plan.reason);
        if (plan.failure) failures += 1;
        continue;
      }
      if (!(await trainOne(context, plan.run, plan.variant, plan.resume))) failures += 1;
    }
    progress.stop();
    // the summary, even with --quiet
    process.stdout.write(`done: ${plans.length - failures}/${plans.length} variants trained or skipped; database ${options.db}\n`);
    return failures > 0 ? 1 : 0;
  } finally {
    await store.close();
  }
}

async function planRun(store: Store, run: RunRecord, variant: Variant, options: SweepOptions, runsFolder: string): Promise<Plan> {
  if (run.status === 'done') return { action: 'skip', variant, run, reason: 'done', failure: false };
  if (run.status === 'diverged') {
    return { action: 'skip', variant, run, reason: `diverged${run.error ? ` (${run.error})` : ''}`, failure: false };
  }
  if (run.status === 'failed' && !options.retryFailed) {
    const reason = `failed before (--retry-failed to train it again): ${run.error ?? ''}`;
    return { action: 'skip', variant, run, reason, failure: true };
  }
  return { action: 'train', variant, run, resume: await resumePoint(store, run, variant.settings, runsFolder) };
}

/**
 * The newest recorded checkpoint of the run that is whole on disk and belongs to these settings; null
 * when there is none (the run then starts again from epoch 1).
 */
async function resumePoint(store: Store, run: RunRecord, settings: Settings, runsFolder: string): Promise<ResumePoint | null> {
  const checkpoints = await store.listCheckpoints(run.id);
  for (const checkpoint of checkpoints.reverse()) {
    const folder = resolve(runsFolder, checkpoint.path);
    if (checkpoint.epoch > run.epochsDone || !isResumableCheckpoint(folder)) continue;
    try {
      const state = readCheckpointState(folder);
      if (state.epoch === checkpoint.epoch && checkpointFitsSettings(state, settings)) return { epoch: checkpoint.epoch, folder };
    } catch {
      // unreadable state: an older checkpoint may still do
    }
  }
  return null;
}

interface TrainContext {
  store: Store;
  progress: Progress;
  cacheDir: string;
  judging: Judging;
  specFolder: string;
  runsFolder: string;
  checkpointFolder(variant: Variant): string;
  backend(name: BackendName): Promise<BackendInfo>;
}

async function trainOne(context: TrainContext, run: RunRecord, variant: Variant, resume: ResumePoint | null): Promise<boolean> {
  const { store, progress } = context;
  const { settings } = variant;
  try {
    const engine = await context.backend(settings.engine.backend);
    const dataset = await loadDataset(settings.dataset, {
      resolution: settings.model.resolution,
      cacheDir: context.cacheDir,
      baseDir: context.specFolder,
    });
    await store.setDatasetSummary(run.id, dataset.summary as unknown as Record<string, unknown>);
    const judge = context.judging.forVariant(settings, dataset);
    // what was committed after the checkpoint is trained again: forget it, so each epoch is recorded once
    await store.rewindRun(run.id, resume?.epoch ?? 0);
    if (resume) {
      progress.log(`resuming ${variant.id} ${variant.label} from epoch ${resume.epoch} (its last checkpoint)`);
    } else if (run.epochsDone > 0) {
      progress.log(`restarting ${variant.id} ${variant.label}: no checkpoint to resume from, epochs 1-${run.epochsDone} train again`);
    }
    await store.startRun(run.id, engine);
    progress.variantStarted(variant, { epochs: settings.train.epochs, startEpoch: (resume?.epoch ?? 0) + 1, device: engine.device });

    // Step rows wait for their epoch: an epoch's rows and grid commit together or not at all.
    let stepRows: MetricRow[] = [];
    const result = await trainVariant(
      settings,
      dataset,
      {
        onStep: (p) => {
          progress.step(p);
          stepRows.push(...metricRows(p.metrics, p.epoch, p.globalStep));
        },
        onEpoch: async (r) => {
          const judged = await judgeEpoch(judge, r.epoch, r.sample);
          const rows = [...stepRows, ...metricRows({ ...r.metrics, ...judged.metrics }, r.epoch, EPOCH_SUMMARY_STEP)];
          stepRows = [];
          await store.commitEpoch(run.id, r.epoch, rows, r.gridPng);
          progress.epoch(r.epoch, r.metrics);
          if (judged.line) progress.log(`  ${judged.line}`);
        },
        onCheckpoint: async (c) => {
          await store.recordCheckpoint(run.id, { epoch: c.epoch, globalStep: c.globalStep, path: relative(context.runsFolder, c.folder) });
        },
        onGemmTuning: (t) => {
          if (t.timed === 0) return;
          progress.log(
            `  tuned ${t.timed} convolutions on ${engine.device} in ${t.seconds.toFixed(1)} s: ${t.tunedMs.toFixed(1)} ms a call of each, ` +
              `${t.defaultMs.toFixed(1)} ms untuned${t.fromFile > 0 ? ` (${t.fromFile} more from the last runs)` : ''}`,
          );
        },
      },
      {
        checkpointFolder: context.checkpointFolder(variant),
        resumeFrom: resume?.folder,
        // choices tuned on this device by earlier runs: a resumed run runs the variants it ran before
        tuningFile: join(context.cacheDir, 'gemm-tuning', `${engine.device.replace(/[^A-Za-z0-9]+/g, '-').replace(/^-|-$/g, '')}.json`),
      },
    );

    if (result.status === 'diverged') {
      await store.finishRun(run.id, 'diverged', `NaN or Inf loss at epoch ${result.epoch}`);
      progress.variantFinished(variant, `diverged at epoch ${result.epoch}`);
      return true;
    }
    if (result.status === 'aborted') {
      await store.finishRun(run.id, 'failed', `aborted at epoch ${result.epoch}`);
      progress.variantFinished(variant, 'aborted', true);
      return false;
    }
    await store.finishRun(run.id, 'done');
    if (result.replayedSteps) {
      const { replayed, steps } = result.replayedSteps;
      progress.log(`  ${replayed} of ${steps} steps replayed without tfjs (the same GPU work; FACEGAN_STEP_REPLAY=0 turns it off)`);
    }
    progress.variantFinished(variant, 'done');
    return true;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    await store.finishRun(run.id, 'failed', message);
    progress.variantFinished(variant, `failed: ${message}`, true);
    return false;
  }
}

/** `backend wasm on wasm simd, 1 thread (auto; passed over tensorflow-gpu: …)`. */
export function describeBackend(requested: BackendName, info: BackendInfo): string {
  const choice = `backend ${info.backend} on ${info.device}`;
  if (requested !== 'auto') return choice;
  const passedOver = info.passedOver?.length ? `; passed over ${info.passedOver.join('; ')}` : '';
  return `${choice} (auto${passedOver})`;
}

function metricRows(metrics: Record<string, number>, epoch: number, step: number): MetricRow[] {
  const time = Date.now();
  return Object.entries(metrics).map(([name, value]) => ({ epoch, step, name, value, time }));
}
