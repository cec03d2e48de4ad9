/**
 * Times the seed DCGAN's full training step on WebGPU, stock tfjs-backend-webgpu against the project's
 * kernels and gradient overrides, in one process on one adapter.
 *
 *   npx tsx libs/engine/src/webgpu/bench-step.ts [--resolution 64] [--batch 128] [--width 1]
 *       [--steps 10] [--warmup 3] [--variants stock,project] [--profile]
 *
 * The step matches ../shared/bench/torch_dcgan.py: G forward on fresh latents, D on real and fake
 * (fake detached), D update, then G update through D (D forward again, after its update); Adam 1.5e-4,
 * β1 0.5, BCE, batch norm and dropout in training mode, minimize() with explicit variable lists.
 * tfjs cannot keep the first G forward's tape for the G update, so G runs forward twice (as in
 * libs/engine's trainer). Each step ends by awaiting the losses, so the times include the GPU work.
 * Prints one JSON line per variant (keys as torch_dcgan.py's: size, batch, width, msPerStep,
 * imgPerSec) and a table last.
 */
import * as tf from '@tensorflow/tfjs';
import { buildDiscriminator, buildGenerator } from '@facegan/model';
import { initWebGpu, installWebGpuOverrides, randomNormalOnGpu, removeWebGpuOverrides, withGpuDropout } from './index';

type Variant = 'stock' | 'project';

interface BenchOptions {
  resolution: number;
  batch: number;
  width: number;
  steps: number;
  warmup: number;
  variants: Variant[];
  profile: boolean;
}

interface BenchResult {
  impl: string;
  device: string;
  size: number;
  batch: number;
  width: number;
  steps: number;
  msPerStep: number;
  msPerStepMin: number;
  imgPerSec: number;
  firstStepMs: number;
  dLoss: number;
  gLoss: number;
  topKernels?: Array<{ name: string; ms: number; calls: number }>;
}

const LATENT_DIM = 100;
const DROPOUT = 0.25;
const EPSILON = 1e-7;
const TRAINING = { training: true };

function parseOptions(argv: string[]): BenchOptions {
  const options: BenchOptions = { resolution: 64, batch: 128, width: 1, steps: 10, warmup: 3, variants: ['stock', 'project'], profile: false };
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
          if (v !== 'stock' && v !== 'project') throw new Error(`--variants takes stock,project; got ${v}`);
          return v;
        });
        break;
      case '--profile':
        options.profile = true;
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
  else installWebGpuOverrides();
  const project = variant === 'project';
  const modelSettings = { resolution: options.resolution, width: options.width, dropout: DROPOUT, latentDim: LATENT_DIM };
  const generator = buildGenerator(modelSettings, { seed: 1 });
  const builtDiscriminator = buildDiscriminator(modelSettings, { seed: 2 });
  // TODO(model): once buildDiscriminator takes a dropout-layer factory, pass GpuDropout there instead.
  const discriminator = project ? withGpuDropout(builtDiscriminator, 3) : builtDiscriminator;
  const generatorVariables = generator.trainableWeights.map((w) => w.read() as tf.Variable);
  const discriminatorVariables = discriminator.trainableWeights.map((w) => w.read() as tf.Variable);
  const generatorOptimizer = tf.train.adam(1.5e-4, 0.5);
  const discriminatorOptimizer = tf.train.adam(1.5e-4, 0.5);
  const real = tf.randomUniform([options.batch, options.resolution, options.resolution, 3], -1, 1);
  let stepNumber = 0;

  const step = async (): Promise<[number, number]> => {
    const losses = tf.tidy(() => {
      stepNumber++;
      const latents = project
        ? randomNormalOnGpu([options.batch, LATENT_DIM], 1000 + stepNumber)
        : tf.randomNormal([options.batch, LATENT_DIM]);
      const fakes = generator.apply(latents, TRAINING) as tf.Tensor;
      const dLoss = discriminatorOptimizer.minimize(
        () =>
          tf.add(
            binaryCrossEntropy(discriminator.apply(real, TRAINING) as tf.Tensor, 1),
            binaryCrossEntropy(discriminator.apply(fakes, TRAINING) as tf.Tensor, 0),
          ) as tf.Scalar,
        true,
        discriminatorVariables,
      ) as tf.Scalar;
      const gLoss = generatorOptimizer.minimize(
        () => binaryCrossEntropy(discriminator.apply(generator.apply(latents, TRAINING), TRAINING) as tf.Tensor, 1),
        true,
        generatorVariables,
      ) as tf.Scalar;
      return tf.stack([dLoss, gLoss]);
    });
    const [dLoss, gLoss] = await losses.data();
    losses.dispose();
    return [dLoss, gLoss];
  };

  try {
    const firstStart = performance.now();
    await step(); // compiles the shaders
    const firstStepMs = performance.now() - firstStart;
    for (let i = 1; i < options.warmup; i++) await step();
    const times: number[] = [];
    let losses: [number, number] = [NaN, NaN];
    for (let i = 0; i < options.steps; i++) {
      const start = performance.now();
      losses = await step();
      times.push(performance.now() - start);
    }
    const msPerStep = median(times);
    const result: BenchResult = {
      impl: `tfjs-webgpu-${variant}`,
      device,
      size: options.resolution,
      batch: options.batch,
      width: options.width,
      steps: options.steps,
      msPerStep: round(msPerStep, 2),
      msPerStepMin: round(Math.min(...times), 2),
      imgPerSec: round((options.batch * 1000) / msPerStep, 1),
      firstStepMs: round(firstStepMs, 0),
      dLoss: round(losses[0], 4),
      gLoss: round(losses[1], 4),
    };
    if (options.profile) result.topKernels = await profileStep(step);
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
async function profileStep(step: () => Promise<unknown>): Promise<Array<{ name: string; ms: number; calls: number }>> {
  const profile = await tf.profile(async () => {
    await step();
  });
  const byName = new Map<string, { ms: number; calls: number }>();
  for (const kernel of profile.kernels) {
    const ms = typeof kernel.kernelTimeMs === 'number' ? kernel.kernelTimeMs : 0;
    const entry = byName.get(kernel.name) ?? { ms: 0, calls: 0 };
    entry.ms += ms;
    entry.calls += 1;
    byName.set(kernel.name, entry);
  }
  return [...byName.entries()]
    .map(([name, { ms, calls }]) => ({ name, ms: round(ms, 2), calls }))
    .sort((a, b) => b.ms - a.ms)
    .slice(0, 12);
}

function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

function table(results: BenchResult[]): string {
  const header = ['impl', 'size', 'batch', 'width', 'ms/step', 'img/s', 'first step ms', 'speed-up'];
  const stock = results.find((r) => r.impl.endsWith('stock'));
  const rows = results.map((r) => [
    r.impl,
    String(r.size),
    String(r.batch),
    String(r.width),
    r.msPerStep.toFixed(1),
    r.imgPerSec.toFixed(1),
    r.firstStepMs.toFixed(0),
    stock ? `${(r.imgPerSec / stock.imgPerSec).toFixed(2)}×` : '',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const info = await initWebGpu();
  const device = `${info.device}${info.isSoftware ? ' [software]' : ''}`;
  process.stderr.write(`webgpu on ${device}; ${options.resolution} px, batch ${options.batch}, width ${options.width}\n`);
  const results: BenchResult[] = [];
  for (const variant of options.variants) {
    const result = await benchVariant(variant, options, device);
    results.push(result);
    console.log(JSON.stringify(result));
  }
  for (const result of results) {
    if (result.topKernels) {
      console.log(`\n${result.impl}: kernels of one profiled step (GPU ms, calls)`);
      for (const k of result.topKernels) console.log(`  ${k.name.padEnd(28)} ${k.ms.toFixed(2).padStart(10)}  ${k.calls}`);
    }
  }
  console.log(`\n${table(results)}`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exit(1);
});
