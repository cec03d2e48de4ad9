import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command } from 'commander';
import { openStore } from '@facegan/store';
import { experimentFindings, UnknownExperimentError } from './findings/experiment-findings';

/** `nx run report:findings --experiment NAME [--db runs/facegan.db]`: the findings table of every run of the experiment. */
const options = new Command('findings')
  .description("Per variant of an experiment: what it trained on against what it generates (the judge's shares), SWD, D accuracy")
  .requiredOption('--experiment <name>', 'the experiment (its spec\'s `experiment:` name)')
  .option('--db <path>', 'SQLite database written by the runner', 'runs/facegan.db')
  .parse()
  .opts<{ experiment: string; db: string }>();

const dbPath = resolve(options.db);
if (!existsSync(dbPath)) {
  process.stderr.write(`no database at ${dbPath} (run a sweep first, or pass --db)\n`);
  process.exit(1);
}
const store = await openStore(dbPath, { readonly: true });
try {
  process.stdout.write(`${await experimentFindings(store, options.experiment)}\n`);
} catch (error) {
  if (!(error instanceof UnknownExperimentError)) throw error;
  process.stderr.write(`${error.message}\n`);
  process.exitCode = 1;
} finally {
  await store.close();
}
