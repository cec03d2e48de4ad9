/**
 * The training-step benchmark behind `runner:bench`: times the engine's real trainer (createTrainer, a
 * discriminator update then a generator update, losses read back; on webgpu one step queued ahead, as
 * training does) on random images, and converts the
 * median step time into images/s and effective GFLOP/s (modelFlops().trainStep: the conv and dense FLOPs
 * of the forward and backward passes, the work any implementation must do).
 */
import { loadavg } from 'node:os';
import { cpuUsage } from 'node:process';
import * as tf from '@tensorflow/tfjs';
import { modelFlops, subPixelKernelsRegistered } from '@facegan/model';
import { DEFAULT_SETTINGS, type BackendName, type Settings, type ThreadCount } from '@facegan/spec';
import { initBackend, type BackendInfo } from '../backend';
import { wasmThreadsCount } from '../kernels/wasm/threads';
import { createTrainer } from '../trainer';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { createStepReplay, gemmAutotuneDefault, queueAndTune, warmDispatchCaches, type GemmTuningResult, type StepReplay } from '../webgpu/index';

export interface BenchBackendOptions {
  backend: BackendName;
  /**
   * wasm only: XNNPACK threads, or 'auto' (the default, as training: one per idle CPU; autoWasmThreads).
   * More pays only on otherwise idle CPUs: every XNNPACK kernel call waits for all threads, and a
   * thread waiting for a CPU stalls each of the ~1,500 calls of a step.
   */
  threads?: ThreadCount;
  /**
   * wasm only: tfjs's stock kernels instead of the project's, except Conv2DBackpropFilter (stock tfjs has
   * none, so a training step cannot run without ours). The "before" of the project's kernels.
   */
  stockKernels?: boolean;
}

export interface BenchBackend extends BackendInfo {
  /** 'project' or 'stock' (wasm), 'n/a' elsewhere. */
  kernels: 'project' | 'stock' | 'n/a';
  threads: number;
}

/** Initialises the backend to benchmark; once per process (the wasm build and its threads are chosen at start). */
export async function prepareBenchBackend(options: BenchBackendOptions): Promise<BenchBackend> {
  if (options.backend !== 'wasm') {
    if (options.stockKernels) throw new Error('--stock-kernels applies to the wasm backend only');
    if (options.threads !== undefined) throw new Error('--threads applies to the wasm backend only');
    const info = await initBackend(options.backend);
    return { ...info, kernels: 'n/a', threads: 1 };
  }
  const info = await initBackend('wasm', { threads: options.threads ?? 'auto' });
  if (options.stockKernels) {
    const { unregisterWasmTrainingKernels } = await import('../kernels/wasm/index');
    unregisterWasmTrainingKernels({ keep: ['Conv2DBackpropFilter'] });
  }
  return { ...info, kernels: options.stockKernels ? 'stock' : 'project', threads: wasmThreadsCount() };
}

export interface TrainStepBenchConfig {
  resolution: number;
  width: number;
  batch: number;
  /** Timed steps (the median is reported). */
  steps: number;
  /** Untimed steps first: heap growth, XNNPACK operator caches, JIT. */
  warmup: number;
  /** Also run `steps` profiled steps and report per-kernel time. */
  profile: boolean;
  /** Tune the GEMMs in the first warm-up step, as training does (TrainOptions.autotune); default as training. */
  autotune?: boolean;
  /**
   * Webgpu with step replay: after the timed steps, time the replayed step's dispatches alone, `repeats` times
   * back to back, all of them and each group (by program) alone and left out (StepReplay.timeDispatches). The
   * trainer is trained on garbage by it: anything timed after (the profile) runs on other numbers.
   */
  gpuBreakdownRepeats?: number;
}

/** The replayed step's dispatches timed without the CPU (StepReplay.timeDispatches). */
export interface GpuBreakdown {
  repeats: number;
  /** All of a step's dispatches, back to back: the GPU's time for a step. */
  msPerStep: number;
  /**
   * By program (shader key up to its first '_'), longest alone first: its dispatches alone, and for the first
   * few the step without them (NaN for the rest).
   */
  groups: Array<{ label: string; dispatches: number; aloneMs: number; withoutMs: number }>;
  /** Each dispatch alone (StepReplay.timeEachDispatch), longest first: which layer's kernel takes the time. */
  longestDispatches: Array<{ index: number; label: string; workgroups: [number, number, number]; ms: number }>;
  /** Each dispatch alone, in the step's order (the whole step, to read beside the model). */
  eachDispatch: Array<{ label: string; workgroups: [number, number, number]; ms: number }>;
  /** The sum over every dispatch timed alone. */
  sumOfDispatchesMs: number;
}

export interface KernelProfileRow {
  kernel: string;
  /** Calls per step. */
  calls: number;
  /** Kernel time per step: GPU time on webgpu (timestamp queries), else wall time around the kernel function (wasm and cpu kernels are synchronous). */
  ms: number;
}

export interface TrainStepProfile {
  kernels: KernelProfileRow[];
  /** Sum of all kernel times, per step. */
  kernelMs: number;
  /** Wall time of the profiled steps, per step: the rest is tfjs bookkeeping, tape and JavaScript outside kernels. */
  wallMs: number;
}

export interface TrainStepBenchResult {
  config: TrainStepBenchConfig;
  /** FLOPs of one training step (modelFlops().trainStep): what "effective" GFLOP/s count. */
  stepFlops: number;
  /**
   * FLOPs the step actually runs: fewer than stepFlops where the generator's upsample + conv blocks run
   * as sub-pixel convolutions (modelFlops().subPixelTrainStep).
   */
  executedFlops: number;
  /** Steps timed with the next one queued before the previous one's metrics are read back (webgpu, as training). */
  pipelined: boolean;
  /** Median wall time of a step (from the previous step's metrics to its own), and every timed step. */
  msPerStep: number;
  stepMs: number[];
  /**
   * The mean step (all the timed steps' time over their count): throughput, as torch_dcgan.py times PyTorch.
   * Pauses of the process (a garbage collection) raise it, not the median.
   */
  meanMsPerStep: number;
  /** Median process CPU time (user + system, all threads) of a step: less sensitive to a shared machine's load than wall time. */
  cpuMsPerStep: number;
  /**
   * Pipelined (webgpu) only: the median wall time to queue a step (JS, tfjs, Dawn's encoding), which the
   * GPU's work overlaps: a step can take no less, however fast the GPU.
   */
  queueMsPerStep?: number;
  /** Webgpu: warm-up steps run after config.warmup until the dispatch caches settled (warmDispatchCaches). */
  settleSteps?: number;
  /** Webgpu: how many of the timed steps were replayed without tfjs (webgpu/step-replay.ts); undefined where replay is off. */
  replayedSteps?: number;
  /** The machine's 1-minute load average before and after the timed steps: other work slows the figures. */
  loadAverage: [number, number];
  imagesPerSecond: number;
  gflopsPerSecond: number;
  /** executedFlops per second, in GFLOP/s. */
  executedGflopsPerSecond: number;
  profile?: TrainStepProfile;
  /** With autotune: the GEMM problems tuned in the first warm-up step, and the wall time that step took. */
  tuning?: GemmTuningResult[];
  tuningStepMs?: number;
  gpuBreakdown?: GpuBreakdown;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** The settings of a benchmark variant: the defaults, with the model size and batch asked for. */
export function benchSettings(config: Pick<TrainStepBenchConfig, 'resolution' | 'width' | 'batch'>): Settings {
  return {
    ...DEFAULT_SETTINGS,
    model: { ...DEFAULT_SETTINGS.model, resolution: config.resolution, width: config.width },
    train: { ...DEFAULT_SETTINGS.train, batchSize: config.batch },
  };
}

/** Times the training step on the current tfjs backend (see prepareBenchBackend). */
export async function benchTrainStep(config: TrainStepBenchConfig): Promise<TrainStepBenchResult> {
  if (config.steps < 1) throw new Error('bench: steps must be at least 1');
  const settings = benchSettings(config);
  const flops = modelFlops(settings.model, config.batch);
  const stepFlops = flops.trainStep;
  const executedFlops = subPixelKernelsRegistered() ? flops.subPixelTrainStep : stepFlops;
  const replay = config.gpuBreakdownRepeats ? createStepReplay() : undefined;
  const trainer = createTrainer(settings, replay ? { stepReplay: replay } : {});
  const images = tf.randomUniform([config.batch, config.resolution, config.resolution, 3], -1, 1, 'float32', 1) as tf.Tensor4D;
  // as training runs: on webgpu one step queued ahead (TrainOptions.pipelined)
  const pipelined = tf.getBackend() === 'webgpu';
  try {
    let tuning: Pick<TrainStepBenchResult, 'tuning' | 'tuningStepMs'> = {};
    for (let i = 0; i < config.warmup; i++) {
      if (i === 0 && (config.autotune ?? gemmAutotuneDefault())) {
        const started = performance.now();
        const first = await queueAndTune(() => trainer.stepAsync(images));
        await first.result;
        tuning = { tuning: first.tuning, tuningStepMs: performance.now() - started };
      } else {
        await trainer.stepAsync(images);
      }
    }

    // on webgpu, until the dispatch caches have settled (five to ten steps): timed steps are steady ones
    const settleSteps = tf.getBackend() === 'webgpu' ? await warmDispatchCaches(tf.backend() as WebGPUBackend, () => trainer.stepAsync(images)) : 0;

    const loadBefore = loadavg()[0];
    const replayedBefore = trainer.stepReplay?.replayed;
    const stepMs: number[] = [];
    const cpuMs: number[] = [];
    // a step's time runs from the previous step's metrics to its own
    let cpuStart = cpuUsage();
    let start = performance.now();
    // on webgpu, stepAsync queues the step before it returns: that synchronous part is the CPU's share
    const queueMs: number[] = [];
    const queueStep = () => {
      const queued = performance.now();
      const metrics = trainer.stepAsync(images);
      queueMs.push(performance.now() - queued);
      return metrics;
    };
    let inFlight = pipelined ? queueStep() : undefined;
    for (let i = 0; i < config.steps; i++) {
      const next = pipelined && i + 1 < config.steps ? queueStep() : undefined;
      await (inFlight ?? trainer.stepAsync(images));
      inFlight = next;
      const now = performance.now();
      stepMs.push(now - start);
      start = now;
      const cpu = cpuUsage(cpuStart);
      cpuMs.push((cpu.user + cpu.system) / 1e3);
      cpuStart = cpuUsage();
    }
    const msPerStep = median(stepMs);
    const result: TrainStepBenchResult = {
      config,
      stepFlops,
      executedFlops,
      pipelined,
      msPerStep,
      stepMs,
      meanMsPerStep: stepMs.reduce((sum, ms) => sum + ms, 0) / stepMs.length,
      cpuMsPerStep: median(cpuMs),
      ...(pipelined ? { queueMsPerStep: median(queueMs), settleSteps } : {}),
      ...(replayedBefore === undefined ? {} : { replayedSteps: trainer.stepReplay!.replayed - replayedBefore }),
      loadAverage: [loadBefore, loadavg()[0]],
      imagesPerSecond: config.batch / (msPerStep / 1e3),
      gflopsPerSecond: stepFlops / (msPerStep / 1e3) / 1e9,
      executedGflopsPerSecond: executedFlops / (msPerStep / 1e3) / 1e9,
      ...tuning,
    };
    if (replay && config.gpuBreakdownRepeats) result.gpuBreakdown = await gpuBreakdown(replay, config.gpuBreakdownRepeats);
    if (config.profile) result.profile = await profileSteps(() => trainer.stepAsync(images), config.steps);
    return result;
  } finally {
    images.dispose();
    trainer.dispose();
  }
}

/** Groups also timed left out of the step: the ones that take longest alone (each costs a step's time per repeat). */
const GROUPS_LEFT_OUT = 6;
/** Dispatches listed by their time alone. */
const LONGEST_DISPATCHES = 24;

async function gpuBreakdown(replay: StepReplay, repeats: number): Promise<GpuBreakdown | undefined> {
  const all = await replay.timeDispatches(repeats);
  if (!all) return undefined;
  const groups: GpuBreakdown['groups'] = [];
  for (const [label, dispatches] of all.dispatches) {
    const alone = await replay.timeDispatches(repeats, (l) => l === label);
    groups.push({ label, dispatches, aloneMs: alone?.msPerRepeat ?? NaN, withoutMs: NaN });
  }
  groups.sort((a, b) => b.aloneMs - a.aloneMs);
  for (const group of groups.slice(0, GROUPS_LEFT_OUT)) {
    group.withoutMs = (await replay.timeDispatches(repeats, (l) => l !== group.label))?.msPerRepeat ?? NaN;
  }
  const each = (await replay.timeEachDispatch(repeats)) ?? [];
  return {
    repeats,
    msPerStep: all.msPerRepeat,
    groups,
    longestDispatches: [...each].sort((a, b) => b.ms - a.ms).slice(0, LONGEST_DISPATCHES),
    eachDispatch: [...each].sort((a, b) => a.index - b.index).map(({ label, workgroups, ms }) => ({ label, workgroups, ms: Math.round(ms * 1e4) / 1e4 })),
    sumOfDispatchesMs: each.reduce((sum, d) => sum + d.ms, 0),
  };
}

/**
 * Per-kernel time of `steps` runs of `step`, per step, largest first: on webgpu the GPU time of each
 * kernel (timestamp queries, where the adapter has them), elsewhere the wall time around it.
 */
async function profileSteps(step: () => Promise<unknown>, steps: number): Promise<TrainStepProfile> {
  let wallMs = 0;
  const info = await tf.profile(async () => {
    const start = performance.now();
    for (let i = 0; i < steps; i++) await step();
    wallMs = performance.now() - start;
    return 0;
  });
  const byKernel = new Map<string, { calls: number; ms: number }>();
  const backendName = tf.getBackend();
  for (const kernel of info.kernels) {
    // Ops with a custom gradient (fusedConv2d__op...) are recorded too, around the kernels they run:
    // counting them would count those kernels twice.
    if (tf.getKernel(kernel.name, backendName) === undefined) continue;
    const row = byKernel.get(kernel.name) ?? { calls: 0, ms: 0 };
    row.calls += 1;
    row.ms += typeof kernel.kernelTimeMs === 'number' ? kernel.kernelTimeMs : 0;
    byKernel.set(kernel.name, row);
  }
  const kernels = [...byKernel]
    .map(([kernel, { calls, ms }]) => ({ kernel, calls: calls / steps, ms: ms / steps }))
    .sort((a, b) => b.ms - a.ms);
  return { kernels, kernelMs: kernels.reduce((sum, row) => sum + row.ms, 0), wallMs: wallMs / steps };
}
