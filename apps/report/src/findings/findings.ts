/**
 * The core of `report:findings`: one markdown table per experiment answering the seed's question, per variant,
 * "what did it train on, and what does it draw?".
 *
 * It imports nothing at all (plain data in, text or cells out): the findings command (findings-command.ts) prints
 * it, and the compare view shows the same cells as a table in the browser.
 */

/** What the table needs of one run: the store's RunRecord gives all of it (see FindingsRun's fields). */
export interface FindingsRun {
  /** RunRecord.label: the settings that make the variant (e.g. `dataset.where={"gender":"male"}`). */
  label: string;
  status: string;
  epochsDone: number;
  /** RunRecord.datasetSummary.counts: per label, the training images per value. */
  counts: Record<string, Record<string, number>> | null;
  /** RunRecord.lastMetrics: D accuracy of the last epoch (and the judge's metrics, when the last epoch was judged). */
  lastMetrics: Record<string, number>;
  /**
   * The judge's metrics of the last judged epoch (epoch summary rows; runs judge their last epoch, but a run that
   * diverged or was stopped may have been judged earlier), or null when never judged.
   */
  judged: { epoch: number; metrics: Record<string, number> } | null;
}

/** A judged attribute: its metric name, and the label value of the training data it is compared with. */
const ATTRIBUTES = [
  { title: 'men', metric: 'share_male', label: 'gender', value: 'male' },
  { title: 'glasses', metric: 'share_glasses', label: 'glasses', value: 'true' },
  { title: 'facial hair', metric: 'share_facial_hair', label: 'facialHair', value: 'true' },
] as const;

function percent(value: number | undefined, digits = 0): string {
  return value === undefined || Number.isNaN(value) ? '–' : `${(100 * value).toFixed(digits)}%`;
}

function dataShare(counts: FindingsRun['counts'], label: string, value: string): number | undefined {
  const values = counts?.[label];
  if (!values) return undefined;
  const total = Object.values(values).reduce((sum, count) => sum + count, 0);
  return total ? (values[value] ?? 0) / total : undefined;
}

/** `97% [94–99]`: a judged share with its 95% interval. */
function judgedShare(metrics: Record<string, number>, name: string): string {
  const share = metrics[name];
  if (share === undefined) return '–';
  if (Number.isNaN(share)) return 'no faces';
  return `${percent(share)} [${(100 * metrics[`${name}_low`]).toFixed(0)}–${(100 * metrics[`${name}_high`]).toFixed(0)}]`;
}

function number(value: number | undefined, digits: number): string {
  return value === undefined || Number.isNaN(value) ? '–' : value.toFixed(digits);
}

/**
 * The findings table of an experiment's runs, as markdown: per variant, the share of each attribute in its training
 * data against the judged share in its samples (95% Wilson interval), the face rate on photo datasets (with the
 * rate on real images of the same size, the ceiling), SWD (×1e3, lower is closer to the data), MS-SSIM of sample
 * pairs against real pairs (higher than real: less diverse), and the discriminator's accuracy on real and fake.
 * Columns that no run has are left out.
 */
export function formatFindings(experiment: string, runs: readonly FindingsRun[]): string {
  const { header, rows } = findingsTable(runs);
  const escape = (cell: string) => cell.replaceAll('|', '\\|');
  const line = (cells: string[]) => `| ${cells.map(escape).join(' | ')} |`;
  return [
    `## ${experiment}`,
    '',
    line(header),
    line(header.map(() => '---')),
    ...rows.map(line),
    '',
    FINDINGS_NOTE,
  ].join('\n');
}

/** What the table's numbers are. */
export const FINDINGS_NOTE = 'Generated shares: judged on the samples, with 95% Wilson intervals. SWD ×1e3, mean over the Laplacian levels.';

/** The findings table's cells (see formatFindings): a header, and one row per run. */
export function findingsTable(runs: readonly FindingsRun[]): { header: string[]; rows: string[][] } {
  const judgedMetrics = runs.map((run) => run.judged?.metrics ?? {});
  const attributes = ATTRIBUTES.filter((attribute) => judgedMetrics.some((metrics) => attribute.metric in metrics));
  const hasFaces = judgedMetrics.some((metrics) => 'face_rate' in metrics);

  const header = ['variant', 'status', 'judged at'];
  for (const attribute of attributes) header.push(`${attribute.title}: data`, `${attribute.title}: generated`);
  if (hasFaces) header.push('face rate (real)');
  header.push('SWD', 'MS-SSIM fake / real', 'D acc real / fake');

  const rows = runs.map((run, index) => {
    const metrics = judgedMetrics[index];
    const row = [run.label || '(all)', run.status, run.judged ? `epoch ${run.judged.epoch} of ${run.epochsDone}` : 'not judged'];
    for (const attribute of attributes) {
      row.push(percent(dataShare(run.counts, attribute.label, attribute.value)), judgedShare(metrics, attribute.metric));
    }
    if (hasFaces) row.push(`${judgedShare(metrics, 'face_rate')} (${percent(metrics.face_rate_real)})`);
    row.push(
      number(metrics.swd_mean, 1),
      `${number(metrics.msssim_fake, 3)} / ${number(metrics.msssim_real, 3)}`,
      `${percent(run.lastMetrics.d_acc_real)} / ${percent(run.lastMetrics.d_acc_fake)}`,
    );
    return row;
  });
  return { header, rows };
}
