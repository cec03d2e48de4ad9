import { MultiBar, Presets, type SingleBar } from 'cli-progress';

/** What the progress needs of a training step (the engine's StepProgress). */
export interface StepInfo {
  epoch: number;
  step: number;
  stepsPerEpoch: number;
  metrics: Record<string, number>;
  imagesPerSecond: number;
}

export interface VariantInfo {
  id: string;
  label: string;
}

/** Where progress goes: stdout, or a stand-in in tests. A TTY gets bars, anything else plain lines. */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressOptions {
  quiet: boolean;
  /** Variants in the sweep (skipped ones included). */
  variants: number;
  /** Epochs the sweep will train in all (a resumed variant counts what it has left): the sweep's ETA. */
  epochs: number;
  stream?: ProgressStream;
  /** Milliseconds; for tests. */
  now?: () => number;
}

const fmt = (value: number | undefined, digits = 3) => (value === undefined || !Number.isFinite(value) ? '-' : value.toFixed(digits));

function losses(metrics: Record<string, number>): string {
  return (
    `D real ${fmt(metrics.d_loss_real)} D fake ${fmt(metrics.d_loss_fake)} G ${fmt(metrics.g_loss)} ` +
    `acc ${fmt(metrics.d_acc_real, 2)}/${fmt(metrics.d_acc_fake, 2)}`
  );
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.max(0, Math.round(seconds));
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

/**
 * Progress of a sweep. On a terminal: a bar for the sweep (variants, its ETA) and one for the
 * variant training (epoch and step, img/s, D and G losses, ETA). Otherwise one plain line per
 * epoch. With `quiet`, nothing but failures (on stderr).
 */
export function createProgress(options: ProgressOptions) {
  const stream = options.stream ?? process.stdout;
  const now = options.now ?? (() => Date.now());
  const tty = stream.isTTY === true && !options.quiet;
  const multi = tty
    ? new MultiBar(
        {
          clearOnComplete: false,
          hideCursor: true,
          format: '{name} |{bar}| {detail}',
          stream: stream as NodeJS.WritableStream,
          barsize: 24,
        },
        Presets.shades_classic,
      )
    : null;
  const sweepBar = multi?.create(options.variants, 0, { name: 'sweep       ', detail: '' });
  const sweep = { variantsDone: 0, epochsTrained: 0, trainingSeconds: 0, epochsPlanned: options.epochs };
  let variantBar: SingleBar | undefined;
  let current:
    | { variant: VariantInfo; epochs: number; startEpoch: number; startedAt: number; lastEpoch: number }
    | undefined;

  const print = (line: string) => {
    if (options.quiet) return;
    if (multi) multi.log(`${line}\n`);
    else stream.write(`${line}\n`);
  };

  /** Seconds left for the current variant, from its pace in this process. */
  const variantEta = (epochsDone: number) => {
    if (!current) return NaN;
    const trained = epochsDone - (current.startEpoch - 1);
    const elapsed = (now() - current.startedAt) / 1000;
    return trained > 0 ? (elapsed / trained) * (current.epochs - epochsDone) : NaN;
  };

  const sweepEta = (epochsInFlight: number) => {
    const trained = sweep.epochsTrained + epochsInFlight;
    const elapsed = sweep.trainingSeconds + (current ? (now() - current.startedAt) / 1000 : 0);
    return trained > 0 ? (elapsed / trained) * Math.max(0, sweep.epochsPlanned - trained) : NaN;
  };

  const updateSweepBar = (epochsInFlight: number) => {
    sweepBar?.update(sweep.variantsDone, {
      detail: `${sweep.variantsDone}/${options.variants} variants ETA ${formatDuration(sweepEta(epochsInFlight))}`,
    });
  };

  return {
    /** A line for people (suppressed by quiet); above the bars on a terminal. */
    log: print,

    variantStarted(variant: VariantInfo, info: { epochs: number; startEpoch: number; device: string }) {
      current = { variant, epochs: info.epochs, startEpoch: info.startEpoch, startedAt: now(), lastEpoch: info.startEpoch - 1 };
      const from = info.startEpoch > 1 ? ` from epoch ${info.startEpoch}` : '';
      if (!multi) print(`train ${variant.id} ${variant.label}: ${info.epochs} epochs${from} on ${info.device}`);
      variantBar = multi?.create(info.epochs, info.startEpoch - 1, { name: variant.id, detail: variant.label });
    },

    step(p: StepInfo) {
      if (!current || !variantBar) return;
      const done = p.epoch - 1 + p.step / p.stepsPerEpoch;
      variantBar.update(done, {
        detail:
          `epoch ${p.epoch}/${current.epochs} step ${p.step}/${p.stepsPerEpoch} ${fmt(p.imagesPerSecond, 1)} img/s ` +
          `${losses(p.metrics)} ETA ${formatDuration(variantEta(done))}`,
      });
      updateSweepBar(done - (current.startEpoch - 1));
    },

    epoch(epoch: number, metrics: Record<string, number>) {
      if (!current) return;
      current.lastEpoch = epoch;
      const line =
        `epoch ${epoch}/${current.epochs} ${fmt(metrics.img_per_s, 1)} img/s ${losses(metrics)} ` +
        `ETA ${formatDuration(variantEta(epoch))}`;
      if (!multi) print(`  ${current.variant.id} ${line}`);
      variantBar?.update(epoch, { detail: line });
      updateSweepBar(epoch - (current.startEpoch - 1));
    },

    variantFinished(variant: VariantInfo, outcome: string, failed = false) {
      const took = current ? ` after ${formatDuration((now() - current.startedAt) / 1000)}` : '';
      const line = `  ${variant.id} ${outcome}${took}`;
      if (current) {
        sweep.trainingSeconds += (now() - current.startedAt) / 1000;
        sweep.epochsTrained += current.lastEpoch - (current.startEpoch - 1);
        // a variant that stopped early (diverged, failed) will not train the epochs it had left
        sweep.epochsPlanned -= current.epochs - current.lastEpoch;
      }
      if (failed) process.stderr.write(`${line}\n`);
      else print(line);
      if (variantBar) {
        variantBar.update({ detail: outcome });
        variantBar.stop();
        multi?.remove(variantBar);
        variantBar = undefined;
      }
      current = undefined;
      sweep.variantsDone += 1;
      updateSweepBar(0);
    },

    variantSkipped(variant: VariantInfo, reason: string) {
      print(`skip ${variant.id} ${variant.label}: ${reason}`);
      sweep.variantsDone += 1;
      updateSweepBar(0);
    },

    stop() {
      // a last redraw writes the lines logged since the previous one; stop() alone would drop them
      multi?.update();
      multi?.stop();
    },
  };
}

export type Progress = ReturnType<typeof createProgress>;
