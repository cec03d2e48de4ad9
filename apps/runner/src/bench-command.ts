import { availableParallelism } from 'node:os';
import { benchTrainStep, formatGemmTuning, gemmTuningTotals, prepareBenchBackend, type BenchBackend, type TrainStepBenchResult } from '@facegan/engine';
import type { BackendName, ThreadCount } from '@facegan/spec';

export interface BenchCommandOptions {
  backend: BackendName;
  resolution: number;
  width: number;
  batch: number;
  steps: number;
  warmup: number;
  threads?: ThreadCount;
  stockKernels?: boolean;
  profile?: boolean;
  json?: boolean;
}

/** `bench`: times the full training step on one backend and prints img/s and effective GFLOP/s. Resolves to the exit code. */
export async function runBenchCommand(options: BenchCommandOptions): Promise<number> {
  if (options.backend !== 'wasm' && (options.threads !== undefined || options.stockKernels)) {
    process.stderr.write('bench: --threads and --stock-kernels apply to --backend wasm only\n');
    return 2;
  }
  const backend = await prepareBenchBackend({
    backend: options.backend,
    threads: options.threads,
    stockKernels: options.stockKernels,
  });
  const config = {
    resolution: options.resolution,
    width: options.width,
    batch: options.batch,
    steps: options.steps,
    warmup: options.warmup,
    profile: options.profile ?? false,
  };
  if (options.backend === 'cpu' && options.width * options.batch > 1) {
    process.stderr.write("note: the cpu backend takes minutes a step at this size; a tiny config is --width 0.03125 --minibatch 4\n");
  }
  if (!options.json) {
    process.stdout.write(
      `${describeBackend(backend)}; ${config.resolution} px, width ${config.width}, batch ${config.batch}: ` +
        `${config.warmup} warm-up + ${config.steps} timed steps…\n`,
    );
  }
  const result = await benchTrainStep(config);
  if (options.json) {
    process.stdout.write(`${JSON.stringify({ date: new Date().toISOString(), backend, ...result })}\n`);
  } else {
    process.stdout.write(formatResult(result));
  }
  return 0;
}

function describeBackend(backend: BenchBackend): string {
  const kernels = backend.kernels === 'n/a' ? '' : `, ${backend.kernels} kernels`;
  return `${backend.backend} (${backend.device}${kernels})`;
}

function formatResult(result: TrainStepBenchResult): string {
  const { msPerStep, meanMsPerStep, stepMs, cpuMsPerStep, imagesPerSecond, gflopsPerSecond, stepFlops, executedFlops } = result;
  const lines = [
    `step: ${msPerStep.toFixed(1)} ms median, ${meanMsPerStep.toFixed(1)} ms mean (min ${Math.min(...stepMs).toFixed(1)}, max ${Math.max(...stepMs).toFixed(1)}; ` +
      `CPU time ${cpuMsPerStep.toFixed(1)} ms)`,
    `${imagesPerSecond.toFixed(1)} img/s, ${gflopsPerSecond.toFixed(2)} GFLOP/s effective (${(stepFlops / 1e9).toFixed(3)} GFLOP a step)`,
    ...(executedFlops < stepFlops
      ? [
          `  (the generator's upsample + conv blocks run as sub-pixel convolutions: ${(executedFlops / 1e9).toFixed(3)} GFLOP executed, ` +
            `${result.executedGflopsPerSecond.toFixed(2)} GFLOP/s)`,
        ]
      : []),
    ...(result.queueMsPerStep !== undefined
      ? [
          `queueing a step: ${result.queueMsPerStep.toFixed(1)} ms median (JS, tfjs and Dawn on the CPU; the GPU works meanwhile, but a step takes no less); ` +
            `${result.settleSteps ?? 0} more warm-up steps until the dispatch caches settled`,
        ]
      : []),
    ...(result.replayedSteps !== undefined
      ? [`${result.replayedSteps} of ${stepMs.length} timed steps replayed without tfjs (FACEGAN_STEP_REPLAY=0 runs every step through tfjs)`]
      : []),
    `load average ${result.loadAverage.map((load) => load.toFixed(2)).join(' -> ')} on ${availableParallelism()} CPUs ` +
      '(other processes slow the figures: compare runs made side by side)',
  ];
  if (result.tuning) {
    const total = gemmTuningTotals(result.tuning);
    lines.push(
      `convolution GEMMs tuned in the first warm-up step (${((result.tuningStepMs ?? 0) / 1000).toFixed(1)} s; FACEGAN_GEMM_AUTOTUNE=0 turns it off): ` +
        `${result.tuning.length} problems, ${total.ms.toFixed(2)} ms for one call of each, ${total.defaultMs.toFixed(2)} ms in the default plans`,
    );
    if (result.profile) lines.push(formatGemmTuning(result.tuning));
  }
  if (result.profile) {
    const { kernels, kernelMs, wallMs } = result.profile;
    lines.push('', `per step: ${kernelMs.toFixed(1)} ms in kernels of ${wallMs.toFixed(1)} ms profiled (the rest: tfjs bookkeeping, tape, JavaScript)`);
    lines.push(`${'kernel'.padEnd(28)} ${'calls'.padStart(6)} ${'ms'.padStart(8)} ${'share'.padStart(6)}`);
    for (const row of kernels) {
      if (row.ms < 0.05) continue;
      lines.push(
        `${row.kernel.padEnd(28)} ${row.calls.toFixed(0).padStart(6)} ${row.ms.toFixed(1).padStart(8)} ${`${((100 * row.ms) / kernelMs).toFixed(1)}%`.padStart(6)}`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}
