import { Command, InvalidArgumentError } from 'commander';
import { SpecError } from '@facegan/spec';
import { runDatasetCommand } from './dataset-command';
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
  .option('--retry-failed', 'train variants that failed before again')
  .option('--quiet', 'print only errors and the final summary')
  .action(async (options) => {
    process.exitCode = await runSweep(options);
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

function positiveInteger(value: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1) throw new InvalidArgumentError('a positive integer');
  return number;
}

program.parseAsync().catch((error: unknown) => {
  if (error instanceof SpecError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
