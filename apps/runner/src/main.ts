import { Command, InvalidArgumentError } from 'commander';
import { SpecError } from '@facegan/spec';
import { runBenchCommand } from './bench-command';
import { runDatasetCommand } from './dataset-command';
import { runSampleCommand, SampleError } from './sample-command';
import { runSweep } from './sweep';

const BACKENDS = ['auto', 'tensorflow', 'webgpu', 'wasm', 'cpu'] as const;

function backendOption(value: string): (typeof BACKENDS)[number] {
  const backend = BACKENDS.find((name) => name === value);
  if (!backend) throw new InvalidArgumentError(`allowed: ${BACKENDS.join(', ')}`);
  return backend;
}

const program = new Command('facegan-runner').description('Train GAN sweeps described by YAML specs.');

program
  .command('sweep')
  .description('Train every variant of a spec and record it in the store.')
  .requiredOption('--spec <file>', 'experiment spec (YAML)')
  .option('--db <file>', 'SQLite database', 'runs/facegan.db')
  .option('--cache <dir>', 'dataset cache folder', 'runs/cache')
  .option('--backend <name>', `override the spec's backend (${BACKENDS.join('|')})`, backendOption)
  .option('--dry-run', 'print the variant table and train nothing')
  .option('--threads <n|auto>', "wasm: override the spec's engine.threads (auto: one per idle CPU)", threadCount)
  .option('--retry-failed', 'train variants that failed before again')
  .option('--resume', 'continue a killed sweep: done variants are skipped, a running one goes on from its last checkpoint (the default anyway)')
  .option('--quiet', 'print only errors and the final summary')
  .action(async (options) => {
    process.exitCode = await runSweep(options);
  });

program
  .command('sample')
  .description("Draw images from a stored run's generator checkpoint into a PNG grid.")
  .requiredOption('--run <id>', 'run id (the report shows it)', positiveInteger)
  .option('--epoch <n>', 'the checkpoint at this epoch or the nearest before it (default: the last)', positiveInteger)
  .option('--n <count>', 'images in the grid', positiveInteger, 64)
  .option('--out <file>', 'PNG to write', 'grid.png')
  .option('--seed <n>', 'seed of the latent vectors', nonNegativeInteger, 1)
  .option('--interpolate', 'a latent interpolation strip instead: --rows rows of --steps slerp steps between two random latents')
  .option('--rows <n>', 'interpolation rows', positiveInteger, 8)
  .option('--steps <n>', 'interpolation steps per row (at least 2)', positiveInteger, 10)
  .option('--db <file>', 'SQLite database', 'runs/facegan.db')
  .option('--backend <name>', `backend (${BACKENDS.join('|')})`, backendOption, 'auto')
  .option('--quiet', 'print only errors')
  .action(async (options) => {
    process.exitCode = await runSampleCommand(options);
  });

program
  .command('dataset')
  .description("Load a variant's training set and print its label counts and skipped files; or time preparation with --bench.")
  .option('--spec <file>', 'experiment spec (YAML)')
  .option('--variant <id>', 'variant id, id prefix, label or index (default: the first)')
  .option('--preview <file>', 'write a PNG of raw and prepared images')
  .option('--cache <dir>', 'dataset cache folder', 'runs/cache')
  .option('--bench', 'time preparing generated 200×200 JPEGs at 96 px (needs no spec)')
  .option('--count <n>', 'images for --bench', positiveInteger, 10_000)
  .option('--quiet', 'no progress bar')
  .action(async (options) => {
    process.exitCode = await runDatasetCommand(options);
  });

program
  .command('bench')
  .description('Time the full training step (median after warm-up) and print img/s and effective GFLOP/s.')
  .option('--backend <name>', `backend (${BACKENDS.join('|')})`, backendOption, 'wasm')
  .option('--resolution <px>', 'image size (a multiple of 32)', positiveInteger, 32)
  .option('--width <w>', 'filter-count multiplier of the model', positiveNumber, 0.25)
  // not --batch or --batch-size: Nx keeps options named --batch* for itself (`nx run runner:bench --batch 4`
  // would hand the runner a stray "4")
  .option('--minibatch <n>', 'batch size (images per step)', positiveInteger, 32)
  .option('--steps <n>', 'timed steps', positiveInteger, 7)
  .option('--warmup <n>', 'untimed steps first', nonNegativeInteger, 2)
  .option('--threads <n|auto>', 'wasm: XNNPACK threads (default auto: one per idle CPU, as training)', threadCount)
  .option('--stock-kernels', "wasm: tfjs's stock kernels (plus the project's Conv2DBackpropFilter, which stock lacks)")
  .option('--profile', 'also print the time per kernel')
  .option('--json', 'print one JSON line')
  .action(async ({ minibatch, ...options }) => {
    process.exitCode = await runBenchCommand({ ...options, batch: minibatch });
  });

function positiveNumber(value: string): number {
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0) throw new InvalidArgumentError('a positive number');
  return number;
}

function nonNegativeInteger(value: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 0) throw new InvalidArgumentError('a whole number, 0 or more');
  return number;
}

function threadCount(value: string): number | 'auto' {
  if (value === 'auto') return 'auto';
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1 || number > 8) throw new InvalidArgumentError('auto or a whole number from 1 to 8');
  return number;
}

function positiveInteger(value: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1) throw new InvalidArgumentError('a positive integer');
  return number;
}

program.parseAsync().catch((error: unknown) => {
  if (error instanceof SpecError || error instanceof SampleError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
