import type { StoreReader } from '@facegan/store';
import { formatFindings } from './findings';
import { FINDINGS_METRICS, findingsRun } from './findings-run';

export class UnknownExperimentError extends Error {}

/** The findings table (markdown) of every run of the experiment named `name`, in run order. */
export async function experimentFindings(store: StoreReader, name: string): Promise<string> {
  const experiments = await store.listExperiments();
  const experiment = experiments.find((e) => e.name === name);
  if (!experiment) {
    const known = experiments.map((e) => e.name).join(', ');
    throw new UnknownExperimentError(`no experiment "${name}" in this database${known ? ` (it has: ${known})` : ' (it has none)'}`);
  }
  const runs = await store.listRuns({ experimentId: experiment.id });
  const findings = await Promise.all(runs.map(async (run) => findingsRun(run, await store.getMetrics(run.id, [...FINDINGS_METRICS]))));
  return formatFindings(experiment.name, findings);
}
