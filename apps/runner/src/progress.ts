import { MultiBar, Presets, type SingleBar } from 'cli-progress';
import type { Variant } from '@facegan/spec';

interface StepInfo {
  epoch: number;
  step: number;
  stepsPerEpoch: number;
  metrics: Record<string, number>;
}

const fmt = (value: number | undefined, digits = 3) => (value === undefined ? '-' : value.toFixed(digits));

function describe(metrics: Record<string, number>): string {
  return (
    `D real ${fmt(metrics.d_loss_real)} D fake ${fmt(metrics.d_loss_fake)} G ${fmt(metrics.g_loss)} ` +
    `acc ${fmt(metrics.d_acc_real, 2)}/${fmt(metrics.d_acc_fake, 2)}`
  );
}

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.max(0, Math.round(seconds));
  return s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

/**
 * Progress of a sweep: bars (one for the sweep, one for the running variant) on a terminal,
 * one plain line per epoch otherwise, nothing with `quiet`.
 */
export function createProgress(options: { quiet: boolean; total: number }) {
  const tty = Boolean(process.stdout.isTTY) && !options.quiet;
  const multi = tty
    ? new MultiBar(
        { clearOnComplete: false, hideCursor: true, format: '{name} |{bar}| {value}/{total} {detail}' },
        Presets.shades_classic,
      )
    : null;
  const sweepBar = multi?.create(options.total, 0, { name: 'sweep  ', detail: '' });
  let variantBar: SingleBar | undefined;
  let current: { variant: Variant; epochs: number; startedAt: number; stepsPerEpoch: number } | undefined;
  let lastImgPerSecond = 0;

  const plain = (line: string) => {
    if (!options.quiet && !tty) process.stdout.write(`${line}\n`);
  };

  return {
    variantStarted(variant: Variant, epochs: number, device: string) {
      current = { variant, epochs, startedAt: Date.now(), stepsPerEpoch: 0 };
      plain(`train ${variant.id} ${variant.label}: ${epochs} epochs on ${device}`);
      variantBar = multi?.create(epochs, 0, { name: variant.id, detail: variant.label });
    },
    step(p: StepInfo) {
      if (!current || !variantBar) return;
      current.stepsPerEpoch = p.stepsPerEpoch;
      const done = p.epoch - 1 + p.step / p.stepsPerEpoch;
      variantBar.update(done, { detail: `epoch ${p.epoch} step ${p.step}/${p.stepsPerEpoch} ${describe(p.metrics)}` });
    },
    epoch(epoch: number, metrics: Record<string, number>) {
      if (!current) return;
      lastImgPerSecond = metrics.img_per_s ?? lastImgPerSecond;
      const elapsed = (Date.now() - current.startedAt) / 1000;
      const eta = (elapsed / epoch) * (current.epochs - epoch);
      const line = `epoch ${epoch}/${current.epochs} ${fmt(lastImgPerSecond, 1)} img/s ${describe(metrics)} ETA ${formatDuration(eta)}`;
      plain(`  ${current.variant.id} ${line}`);
      variantBar?.update(epoch, { detail: line });
    },
    variantFinished(variant: Variant, outcome: string) {
      const took = current ? ` after ${formatDuration((Date.now() - current.startedAt) / 1000)}` : '';
      const line = `  ${variant.id} ${outcome}${took}`;
      if (outcome.startsWith('failed')) process.stderr.write(`${line}\n`);
      else plain(line);
      if (variantBar) {
        variantBar.update({ detail: outcome });
        variantBar.stop();
      }
      sweepBar?.increment();
      current = undefined;
    },
    variantSkipped() {
      sweepBar?.increment();
    },
    stop() {
      multi?.stop();
    },
  };
}
