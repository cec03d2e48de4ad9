import { dirname, join, resolve } from 'node:path';
import { loadDataset } from '@facegan/data';
import { initBackend, trainVariant } from '@facegan/engine';
import { formatVariantTable, loadSpec, withBackend, type BackendName, type Variant } from '@facegan/spec';
import { EPOCH_SUMMARY_STEP, openStore, type MetricRow, type RunRecord, type Store } from '@facegan/store';
import { createProgress } from './progress';

export interface SweepOptions {
  spec: string;
  db: string;
  cache: string;
  backend?: BackendName;
  dryRun?: boolean;
  retryFailed?: boolean;
  quiet?: boolean;
}

/** Trains every variant of the spec that is not done yet. Resolves to the process exit code. */
export async function runSweep(options: SweepOptions): Promise<number> {
  const spec = loadSpec(options.spec);
  const variants = options.backend
    ? spec.variants.map((v) => ({ ...v, settings: withBackend(v.settings, options.backend as BackendName) }))
    : spec.variants;
  const log = (line: string) => {
    if (!options.quiet) process.stdout.write(`${line}\n`);
  };

  log(`${spec.name}: ${variants.length} variant${variants.length === 1 ? '' : 's'} from ${spec.file}`);
  if (options.dryRun) {
    process.stdout.write(`${formatVariantTable(variants)}\n`);
    return 0;
  }

  const store = await openStore(options.db);
  try {
    const experiment = await store.upsertExperiment({
      name: spec.name,
      description: spec.description,
      specText: spec.text,
      specHash: spec.hash,
      specFile: spec.file,
    });
    const runs: Array<{ variant: Variant; run: RunRecord }> = [];
    for (const variant of variants) {
      const run = await store.ensureRun({
        experimentId: experiment.id,
        variantId: variant.id,
        label: variant.label,
        settings: variant.settings as unknown as Record<string, unknown>,
      });
      runs.push({ variant, run });
    }

    const progress = createProgress({ quiet: options.quiet ?? false, total: runs.length });
    let failures = 0;
    for (const { variant, run } of runs) {
      if (run.status === 'done' || run.status === 'diverged') {
        log(`skip ${variant.id} ${variant.label}: ${run.status}`);
        progress.variantSkipped();
        continue;
      }
      if (run.status === 'failed' && !options.retryFailed) {
        log(`skip ${variant.id} ${variant.label}: failed before (--retry-failed to train it again): ${run.error ?? ''}`);
        progress.variantSkipped();
        failures += 1;
        continue;
      }
      const ok = await trainOne(store, run, variant, { ...options, specDir: dirname(resolve(spec.file)) }, progress);
      if (!ok) failures += 1;
    }
    progress.stop();
    log(`done: ${runs.length - failures}/${runs.length} variants trained or skipped; database ${options.db}`);
    return failures > 0 ? 1 : 0;
  } finally {
    await store.close();
  }
}

async function trainOne(
  store: Store,
  run: RunRecord,
  variant: Variant,
  options: SweepOptions & { specDir: string },
  progress: ReturnType<typeof createProgress>,
): Promise<boolean> {
  const { settings } = variant;
  try {
    const engine = await initBackend(settings.engine.backend);
    const dataset = await loadDataset(settings.dataset, {
      resolution: settings.model.resolution,
      cacheDir: options.cache ?? join(dirname(options.db), 'cache'),
      baseDir: options.specDir,
    });
    await store.setDatasetSummary(run.id, dataset.summary as unknown as Record<string, unknown>);
    await store.startRun(run.id, engine);
    progress.variantStarted(variant, settings.train.epochs, engine.device);

    // Step rows wait for their epoch: an epoch's rows and grid commit together or not at all.
    let stepRows: MetricRow[] = [];
    const result = await trainVariant(settings, dataset, {
      onStep: (p) => {
        progress.step(p);
        stepRows.push(...metricRows(p.metrics, p.epoch, p.globalStep));
      },
      onEpoch: async (r) => {
        const rows = [...stepRows, ...metricRows(r.metrics, r.epoch, EPOCH_SUMMARY_STEP)];
        stepRows = [];
        await store.commitEpoch(run.id, r.epoch, rows, r.gridPng);
        progress.epoch(r.epoch, r.metrics);
      },
    });

    if (result.status === 'diverged') {
      await store.finishRun(run.id, 'diverged', `NaN or Inf loss at epoch ${result.epoch}`);
      progress.variantFinished(variant, `diverged at epoch ${result.epoch}`);
      return true;
    }
    if (result.status === 'aborted') {
      await store.finishRun(run.id, 'failed', `aborted at epoch ${result.epoch}`);
      progress.variantFinished(variant, 'aborted');
      return false;
    }
    await store.finishRun(run.id, 'done');
    progress.variantFinished(variant, 'done');
    return true;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    await store.finishRun(run.id, 'failed', message);
    progress.variantFinished(variant, `failed: ${message}`);
    return false;
  }
}

function metricRows(metrics: Record<string, number>, epoch: number, step: number): MetricRow[] {
  const time = Date.now();
  return Object.entries(metrics).map(([name, value]) => ({ epoch, step, name, value, time }));
}
