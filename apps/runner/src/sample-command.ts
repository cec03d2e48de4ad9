import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { initBackend, interpolationLatents, loadCheckpointGenerator, randomLatents, sampleGridPng } from '@facegan/engine';
import type { BackendName } from '@facegan/spec';
import { openStore, type CheckpointRecord } from '@facegan/store';
import { describeBackend } from './sweep';

export interface SampleOptions {
  run: number;
  /** Sample the checkpoint at this epoch, or the nearest one before it; default: the last. */
  epoch?: number;
  /** Images in the grid (without --interpolate). */
  n: number;
  out: string;
  seed: number;
  /** A latent interpolation strip instead: `rows` rows of `steps` slerp steps between two random latents. */
  interpolate?: boolean;
  rows: number;
  steps: number;
  db: string;
  backend: BackendName;
  quiet?: boolean;
}

/** Thrown for what the user asked wrongly: the CLI exits 2 with the message alone. */
export class SampleError extends Error {}

/** Draws samples from a stored generator checkpoint into a PNG grid. Resolves to the process exit code. */
export async function runSampleCommand(options: SampleOptions): Promise<number> {
  const log = (line: string) => {
    if (!options.quiet) process.stdout.write(`${line}\n`);
  };
  const store = await openStore(options.db, { readonly: true });
  let checkpoint: CheckpointRecord;
  let title: string;
  try {
    const run = await store.getRun(options.run);
    if (!run) throw new SampleError(`no run ${options.run} in ${options.db}`);
    checkpoint = chooseCheckpoint(await store.listCheckpoints(run.id), run.id, options.epoch);
    title = `run ${run.id} (${run.experimentName} ${run.variantId} ${run.label})`;
  } finally {
    await store.close();
  }

  const backend = await initBackend(options.backend);
  log(describeBackend(options.backend, backend));
  const folder = resolve(dirname(resolve(options.db)), checkpoint.path);
  const generator = await loadCheckpointGenerator(folder);
  try {
    const latentDim = generator.inputs[0].shape[1] as number;
    let png: Buffer;
    if (options.interpolate) {
      const latents = interpolationLatents(latentDim, options.rows, options.steps, options.seed);
      png = await sampleGridPng(generator, latents, { rows: options.rows, cols: options.steps });
    } else {
      const cols = Math.ceil(Math.sqrt(options.n));
      const rows = Math.ceil(options.n / cols);
      png = await sampleGridPng(generator, randomLatents(options.n, latentDim, options.seed), { rows, cols });
    }
    mkdirSync(dirname(resolve(options.out)), { recursive: true });
    writeFileSync(options.out, png);
    const what = options.interpolate
      ? `${options.rows} interpolations of ${options.steps} steps`
      : `${options.n} sample${options.n === 1 ? '' : 's'}`;
    log(`${options.out}: ${what} of ${title}, epoch ${checkpoint.epoch} checkpoint, seed ${options.seed}`);
    return 0;
  } finally {
    generator.dispose();
  }
}

/** The checkpoint at `epoch` or the nearest before it; the last one without `epoch`. */
export function chooseCheckpoint(checkpoints: CheckpointRecord[], runId: number, epoch?: number): CheckpointRecord {
  if (checkpoints.length === 0) {
    throw new SampleError(`run ${runId} has no checkpoint yet (one is written every engine.checkpointEvery epochs and after the last)`);
  }
  if (epoch === undefined) return checkpoints[checkpoints.length - 1];
  const before = checkpoints.filter((c) => c.epoch <= epoch);
  if (before.length === 0) {
    throw new SampleError(`run ${runId} has no checkpoint at or before epoch ${epoch} (it has epochs ${checkpoints.map((c) => c.epoch).join(', ')})`);
  }
  return before[before.length - 1];
}
