/**
 * Times the seed DCGAN's full training step on WebGPU, stock tfjs-backend-webgpu against the project's
 * kernels and gradient overrides, in one process on one adapter.
 *
 *   npx tsx libs/engine/src/webgpu/bench-step.ts [--resolution 64] [--batch 128] [--width 1]
 *       [--steps 10] [--warmup 3] [--variants stock,v1,...,project-vec4-prefetch] [--submit-batch 15] [--profile]
 *
 * Variants: stock (tfjs-backend-webgpu as shipped, tf.train.adam), v1 (the first round's project
 * kernels: gradients without CPU-made tensors, GPU dropout and latents, backprop-filter GEMM;
 * tf.train.adam), v2 (the second round's default: every project kernel but the forward-convolution
 * GEMM, 64×64 GEMM tiles, fused Adam), v2-large (v2 plus the forward GEMM and 128×128 tiles where the
 * grid stays full, measured as the fastest on 2026-11-26), project (what the engine trains with now:
 * v2-large with the generator's upsample + conv blocks as sub-pixel convolutions, one G forward pass and the
 * discriminator's convolutions as conv + bias add, whose filter gradients are computed only when trained, and
 * batch norm as FaceganBatchNormalization),
 * project-vec4, project-prefetch, project-vec4-prefetch (project with the convolution GEMMs' candidate options:
 * vec4 workgroup tiles, setGemmVectorTiles; the next K-tile read during the multiply, setGemmPrefetch), project-autotune
 * (project with each convolution GEMM's variant timed on the adapter in the first step, as training does by default on
 * a GPU: gemm-tuning.ts; its table goes to stderr, its first step's time to tuningStepMs), project-nocache (project
 * without dispatch-cache.ts: tfjs's own uniform write and bind group every dispatch, as in the variants before
 * project, which run without it as they were measured). --submit-batch sets
 * WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE (dispatches per queue submit; tfjs's default 15).
 *
 * The step matches ../shared/bench/torch_dcgan.py: G forward on fresh latents, D on real and fake
 * (fake detached), D update, then G update through D (D forward again, after its update); Adam 1.5e-4,
 * β1 0.5, BCE, batch norm and dropout in training mode, minimize() with explicit variable lists.
 * The baselines run G forward twice (once for D's fakes, again inside the G update's minimize()); project
 * runs it once with D's update nested inside the G update's minimize(), as libs/engine's trainer does now. Each step ends by awaiting the losses, so the times include the GPU work.
 * Prints one JSON line per variant (keys as torch_dcgan.py's: size, batch, width, msPerStep,
 * imgPerSec) and a table last. Every result counts the GPU dispatches per step; with --profile, also one
 * profiled step's GPU time per kernel (timestamp queries) and its kernel calls.
 */
import * as tf from '@tensorflow/tfjs';
import { buildDiscriminator, buildGenerator } from '@facegan/model';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { fusedAdam } from '../fused-adam';
import { DEFAULT_DAWN_FLAGS, dawnFlags, requestAdapter } from './dawn';
import { countDispatches } from './dispatch-counter';
import { onOwnTape } from '../trainer';
import {
  clearGemmTuning,
  dispatchCacheEnabled,
  formatGemmTuning,
  installDispatchCaches,
  markGpuStep,
  removeDispatchCaches,
  warmDispatchCaches,
  initWebGpu,
  queueAndTune,
  installWebGpuOverrides,
  randomNormalOnGpu,
  removeWebGpuOverrides,
  setGemmTileLimit,
  setGemmPrefetch,
  setGemmVectorTiles,
  withGpuDropout,
  type GemmTuningResult,
} from './index';

/** Warm-up steps after --warmup, for every variant: the dispatch caches settle within them (warmDispatchCaches). */
const SETTLE_STEPS = 12;

type Variant =
  | 'stock'
  | 'v1'
  | 'v2'
  | 'v2-large'
  | 'project'
  | 'project-nocache'
  | 'project-scalar'
  | 'project-prefetch'
  | 'project-scalar-prefetch'
  | 'project-autotune';
const VARIANTS: Variant[] = [
  'stock',
  'v1',
  'v2',
  'v2-large',
  'project',
  'project-nocache',
  'project-scalar',
  'project-prefetch',
  'project-scalar-prefetch',
  'project-autotune',
];

interface BenchOptions {
  resolution: number;
  batch: number;
  width: number;
  steps: number;
  warmup: number;
  variants: Variant[];
  submitBatch?: number;
  profile: boolean;
  /** msPerStep is the pipelined figure (default), else the synced one (--no-pipeline). */
  pipeline: boolean;
}

interface BenchResult {
  impl: string;
  device: string;
  /** FACEGAN_DAWN_FLAGS of the run ('' when unset). */
  dawnFlags: string;
  size: number;
  batch: number;
  width: number;
  steps: number;
  msPerStep: number;
  /** The median step awaited one by one (msPerStep until version 3), and the mean step pipelined. */
  msPerStepSynced: number;
  msPerStepPipelined: number;
  msPerStepMin: number;
  /**
   * The median CPU time to queue a step (JS, tfjs and Dawn's encoding; the GPU runs meanwhile): the floor
   * of a pipelined step, whatever the GPU.
   */
  msQueuePerStep: number;
  /** Warm-up steps run after --warmup until the dispatch caches settled (warmDispatchCaches; 0 without them). */
  settleSteps: number;
  imgPerSec: number;
  firstStepMs: number;
  dLoss: number;
  gLoss: number;
  /** GPU dispatches (compute passes' dispatchWorkgroups) per timed step. */
  dispatchesPerStep: number;
  submitBatch: number;
  /** One profiled step: kernel GPU ms in all, kernel calls, and the top kernels. */
  profile?: { kernelMs: number; kernelCalls: number; dispatches: number };
  topKernels?: Array<{ name: string; ms: number; calls: number }>;
  /** The same step's kernels by name and shapes (inputs -> output), the 40 costliest: which layer to work on. */
  topCalls?: Array<{ kernel: string; ms: number; calls: number }>;
}

const LATENT_DIM = 100;
const DROPOUT = 0.25;
const EPSILON = 1e-7;
const TRAINING = { training: true };

function parseOptions(argv: string[]): BenchOptions {
  const options: BenchOptions = { resolution: 64, batch: 128, width: 1, steps: 10, warmup: 3, variants: [...VARIANTS], profile: false, pipeline: true };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    const number = () => {
      i++;
      const parsed = Number(value);
      if (!Number.isFinite(parsed)) throw new Error(`${flag} needs a number, got ${value}`);
      return parsed;
    };
    switch (flag) {
      case '--resolution':
        options.resolution = number();
        break;
      case '--batch':
        options.batch = number();
        break;
      case '--width':
        options.width = number();
        break;
      case '--steps':
        options.steps = number();
        break;
      case '--warmup':
        options.warmup = number();
        break;
      case '--variants':
        i++;
        options.variants = (value ?? '').split(',').map((v) => {
          if (!VARIANTS.includes(v as Variant)) throw new Error(`--variants takes ${VARIANTS.join(',')}; got ${v}`);
          return v as Variant;
        });
        break;
      case '--submit-batch':
        options.submitBatch = number();
        break;
      case '--profile':
        options.profile = true;
        break;
      case '--no-pipeline':
        options.pipeline = false;
        break;
      default:
        throw new Error(`unknown argument ${flag}; see the header of bench-step.ts`);
    }
  }
  return options;
}

function binaryCrossEntropy(probabilities: tf.Tensor, label: 0 | 1): tf.Scalar {
  const p = tf.clipByValue(probabilities, EPSILON, 1 - EPSILON);
  return tf.neg(tf.mean(label === 1 ? tf.log(p) : tf.log(tf.sub(1, p)))) as tf.Scalar;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

async function benchVariant(variant: Variant, options: BenchOptions, device: string): Promise<BenchResult> {
  if (variant === 'stock') removeWebGpuOverrides();
  else installWebGpuOverrides(variant === 'v1' || variant === 'v2' ? variant : 'all');
  // project-*: the engine's configuration with the convolution GEMMs' candidate options (not yet measured on a GPU)
  const engineLike = variant.startsWith('project');
  setGemmTileLimit(variant === 'v2-large' || engineLike ? 8 : 4);
  setGemmVectorTiles(!variant.includes('scalar'));
  setGemmPrefetch(variant.includes('prefetch'));
  clearGemmTuning(); // every variant starts untuned; project-autotune tunes in its first step
  const backend = tf.backend() as WebGPUBackend;
  if (engineLike && variant !== 'project-nocache' && dispatchCacheEnabled()) installDispatchCaches(backend);
  else removeDispatchCaches(backend);
  const project = variant !== 'stock';
  const modelSettings = { resolution: options.resolution, width: options.width, dropout: DROPOUT, latentDim: LATENT_DIM };
  // the project's variants train the generator as the engine does: upsample + conv blocks as sub-pixel convolutions
  const generator = buildGenerator(modelSettings, { seed: 1, fusedUpsampling: engineLike, fusedBatchNorm: engineLike });
  const builtDiscriminator = buildDiscriminator(modelSettings, { seed: 2, separateConvBias: engineLike, fusedBatchNorm: engineLike });
  // TODO(model): once buildDiscriminator takes a dropout-layer factory, pass GpuDropout there instead.
  const discriminator = project ? withGpuDropout(builtDiscriminator, 3) : builtDiscriminator;
  const generatorVariables = generator.trainableWeights.map((w) => w.read() as tf.Variable);
  const discriminatorVariables = discriminator.trainableWeights.map((w) => w.read() as tf.Variable);
  const adam = project && variant !== 'v1' ? fusedAdam : (lr: number, beta1: number) => tf.train.adam(lr, beta1);
  const generatorOptimizer = adam(1.5e-4, 0.5);
  const discriminatorOptimizer = adam(1.5e-4, 0.5);
  // Seeded: v1 and project then train on the same data and should report the same losses.
  const real = tf.randomUniform([options.batch, options.resolution, options.resolution, 3], -1, 1, 'float32', 4);
  let stepNumber = 0;

  // Queues one whole step on the GPU and returns its losses tensor, not yet read.
  const dispatchStep = (): tf.Tensor => {
    return tf.tidy(() => {
      stepNumber++;
      markGpuStep();
      const latents = project
        ? randomNormalOnGpu([options.batch, LATENT_DIM], 1000 + stepNumber)
        : tf.randomNormal([options.batch, LATENT_DIM]);
      const discriminatorLoss = (fakes: tf.Tensor) =>
        tf.add(
          binaryCrossEntropy(discriminator.apply(real, TRAINING) as tf.Tensor, 1),
          binaryCrossEntropy(discriminator.apply(fakes, TRAINING) as tf.Tensor, 0),
        ) as tf.Scalar;
      if (engineLike) {
        // as the engine's trainer: one generator forward pass, recorded by the generator's minimize(),
        // with the discriminator update nested inside it
        let dLoss: tf.Scalar | undefined;
        const gLoss = generatorOptimizer.minimize(
          () => {
            const fakes = generator.apply(latents, TRAINING) as tf.Tensor;
            dLoss = tf.keep(onOwnTape(() => discriminatorOptimizer.minimize(() => discriminatorLoss(fakes), true, discriminatorVariables)) as tf.Scalar);
            return binaryCrossEntropy(discriminator.apply(fakes, TRAINING) as tf.Tensor, 1);
          },
          true,
          generatorVariables,
        ) as tf.Scalar;
        const both = tf.stack([dLoss as tf.Scalar, gLoss]);
        (dLoss as tf.Scalar).dispose(); // kept past the generator's minimize(), which disposes what its function makes
        return both;
      }
      const fakes = generator.apply(latents, TRAINING) as tf.Tensor;
      const dLoss = discriminatorOptimizer.minimize(() => discriminatorLoss(fakes), true, discriminatorVariables) as tf.Scalar;
      const gLoss = generatorOptimizer.minimize(
        () => binaryCrossEntropy(discriminator.apply(generator.apply(latents, TRAINING), TRAINING) as tf.Tensor, 1),
        true,
        generatorVariables,
      ) as tf.Scalar;
      return tf.stack([dLoss, gLoss]);
    });
  };
  const readLosses = async (losses: tf.Tensor): Promise<[number, number]> => {
    const [dLoss, gLoss] = await losses.data();
    losses.dispose();
    return [dLoss, gLoss];
  };
  const step = async (): Promise<[number, number]> => readLosses(dispatchStep());

  try {
    const firstStart = performance.now();
    let tuning: GemmTuningResult[] | undefined;
    if (variant === 'project-autotune') {
      const first = await queueAndTune(dispatchStep);
      await readLosses(first.result);
      tuning = first.tuning;
    } else {
      await step(); // compiles the shaders
    }
    const firstStepMs = performance.now() - firstStart;
    if (tuning) process.stderr.write(`GEMM tuning at ${options.resolution} px (first step ${Math.round(firstStepMs)} ms):\n${formatGemmTuning(tuning)}\n`);
    for (let i = 1; i < options.warmup; i++) await step();
    // until the dispatch caches have settled (five to ten steps; none where they are off): timed steps are steady
    // ones; then on to SETTLE_STEPS, so that every variant trains as many steps and reports comparable losses
    const settleSteps = await warmDispatchCaches(backend, step, SETTLE_STEPS);
    for (let i = settleSteps; i < SETTLE_STEPS; i++) await step();
    const times: number[] = [];
    let losses: [number, number] = [NaN, NaN];
    const dispatchesBefore = dispatchCount();
    const queueTimes: number[] = [];
    for (let i = 0; i < options.steps; i++) {
      const start = performance.now();
      const pending = dispatchStep();
      queueTimes.push(performance.now() - start);
      losses = await readLosses(pending);
      times.push(performance.now() - start);
    }
    const dispatchesPerStep = (dispatchCount() - dispatchesBefore) / options.steps;
    const msPerStepSynced = median(times);
    // Pipelined, as the trainer runs on webgpu: step i + 1 is queued before step i's losses are awaited,
    // so the GPU does not idle while JS reads back and queues the next step.
    const pipelinedStart = performance.now();
    let pending = dispatchStep();
    for (let i = 1; i < options.steps; i++) {
      const next = dispatchStep();
      losses = await readLosses(pending);
      pending = next;
    }
    losses = await readLosses(pending);
    const msPerStepPipelined = (performance.now() - pipelinedStart) / options.steps;
    const msPerStep = options.pipeline ? msPerStepPipelined : msPerStepSynced;
    const result: BenchResult = {
      impl: `tfjs-webgpu-${variant}${dawnFlagsLabel()}`,
      dawnFlags: dawnFlags().join(' '),
      device,
      size: options.resolution,
      batch: options.batch,
      width: options.width,
      steps: options.steps,
      msPerStep: round(msPerStep, 2),
      msPerStepMin: round(Math.min(...times), 2),
      msPerStepSynced: round(msPerStepSynced, 2),
      msPerStepPipelined: round(msPerStepPipelined, 2),
      imgPerSec: round((options.batch * 1000) / msPerStep, 1),
      firstStepMs: round(firstStepMs, 0),
      dLoss: round(losses[0], 4),
      gLoss: round(losses[1], 4),
      msQueuePerStep: round(median(queueTimes), 2),
      settleSteps,
      dispatchesPerStep: Math.round(dispatchesPerStep),
      submitBatch: tf.env().getNumber('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE'),
    };
    if (options.profile) Object.assign(result, await profileStep(step));
    return result;
  } finally {
    real.dispose();
    generator.dispose();
    builtDiscriminator.dispose();
    generatorOptimizer.dispose();
    discriminatorOptimizer.dispose();
  }
}

/** One step under tf.profile: GPU time per kernel (timestamp queries) where the adapter has them. */
async function profileStep(step: () => Promise<unknown>): Promise<Pick<BenchResult, 'profile' | 'topKernels' | 'topCalls'>> {
  const dispatchesBefore = dispatchCount();
  const profile = await tf.profile(async () => {
    await step();
  });
  const byName = new Map<string, { ms: number; calls: number }>();
  const byCall = new Map<string, { ms: number; calls: number }>();
  const add = (map: Map<string, { ms: number; calls: number }>, key: string, ms: number) => {
    const entry = map.get(key) ?? { ms: 0, calls: 0 };
    entry.ms += ms;
    entry.calls += 1;
    map.set(key, entry);
  };
  let kernelMs = 0;
  for (const kernel of profile.kernels) {
    const ms = typeof kernel.kernelTimeMs === 'number' ? kernel.kernelTimeMs : 0;
    kernelMs += ms;
    add(byName, kernel.name, ms);
    const shapes = (list: number[][] | undefined) => (list ?? []).map((shape) => (shape ?? []).join('x')).join(',');
    add(byCall, `${kernel.name} ${shapes(kernel.inputShapes)} -> ${shapes(kernel.outputShapes)}`, ms);
  }
  const top = (map: Map<string, { ms: number; calls: number }>, count: number) =>
    [...map.entries()]
      .map(([name, { ms, calls }]) => ({ name, ms: round(ms, 2), calls }))
      .sort((a, b) => b.ms - a.ms)
      .slice(0, count);
  return {
    profile: { kernelMs: round(kernelMs, 1), kernelCalls: profile.kernels.length, dispatches: dispatchCount() - dispatchesBefore },
    topKernels: top(byName, 16),
    topCalls: top(byCall, 40).map(({ name, ms, calls }) => ({ kernel: name, ms, calls })),
  };
}

/** GPU dispatches so far: every program of the webgpu backend goes through runWebGPUProgram (set in main). */
let dispatchCount = (): number => 0;

function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

function table(results: BenchResult[]): string {
  const header = ['impl', 'size', 'batch', 'ms/step', 'synced ms/step', 'queue ms/step', 'img/s', 'dispatches/step', 'submit batch', 'first step ms', 'vs stock', 'vs v1'];
  const find = (suffix: string) => results.find((r) => r.impl.endsWith(suffix));
  const stock = find('-stock');
  const v1 = find('-v1');
  const rows = results.map((r) => [
    r.impl,
    String(r.size),
    String(r.batch),
    r.msPerStep.toFixed(1),
    r.msPerStepSynced.toFixed(1),
    r.msQueuePerStep.toFixed(1),
    r.imgPerSec.toFixed(1),
    String(r.dispatchesPerStep),
    String(r.submitBatch),
    r.firstStepMs.toFixed(0),
    stock ? `${(r.imgPerSec / stock.imgPerSec).toFixed(2)}×` : '',
    v1 ? `${(r.imgPerSec / v1.imgPerSec).toFixed(2)}×` : '',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const info = await initWebGpu();
  if (options.submitBatch !== undefined) tf.env().set('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE', options.submitBatch);
  dispatchCount = countDispatches(tf.backend() as WebGPUBackend);
  const device = `${info.device}${info.isSoftware ? ' [software]' : ''}`;
  process.stderr.write(`webgpu on ${device}; ${options.resolution} px, batch ${options.batch}, width ${options.width}\n`);
  // For what the next kernels could use (subgroups, shader-f16, subgroup matrices: tensor cores).
  const adapter = await requestAdapter();
  if (adapter) {
    const { subgroupMatrixConfigs } = adapter.info as GPUAdapterInfo & { subgroupMatrixConfigs?: unknown };
    process.stderr.write(`adapter features: ${[...adapter.features].sort().join(' ')}\nsubgroup matrix configs: ${JSON.stringify(subgroupMatrixConfigs ?? null)}\n`);
  }
  const results: BenchResult[] = [];
  for (const variant of options.variants) {
    const result = await benchVariant(variant, options, device);
    results.push(result);
    console.log(JSON.stringify(result));
  }
  for (const result of results) {
    if (result.topKernels && result.profile) {
      const p = result.profile;
      console.log(
        `\n${result.impl}: kernels of one profiled step (GPU ms, calls); in all ${p.kernelMs.toFixed(1)} ms in ${p.kernelCalls} kernel calls, ${p.dispatches} dispatches`,
      );
      for (const k of result.topKernels) console.log(`  ${k.name.padEnd(28)} ${k.ms.toFixed(2).padStart(10)}  ${k.calls}`);
      console.log('  by shapes (inputs -> output):');
      for (const k of result.topCalls ?? []) console.log(`  ${k.ms.toFixed(2).padStart(8)} ${String(k.calls).padStart(4)}  ${k.kernel}`);
    }
  }
  console.log(`\n${table(results)}`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exit(1);
});

/** '' with the project's Dawn flags, '+dawn-defaults' with Dawn's own (robust, validated), else '+dawn-flags'. */
function dawnFlagsLabel(): string {
  const flags = dawnFlags().join(' ');
  if (flags === DEFAULT_DAWN_FLAGS.join(' ')) return '';
  return flags === '' ? '+dawn-defaults' : '+dawn-flags';
}
