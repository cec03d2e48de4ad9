import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import type { GemmVariant } from './conv-gemm';
import { randomNormalOnGpu } from './random-normal';

/**
 * Autotuning of the convolution GEMMs, as cuDNN's benchmark mode does it: which tile size and code variant
 * is fastest depends on the card and on the problem (a 4×4×512 layer wants small tiles, a 64×64×64 one large
 * ones), so instead of one setting for all, each problem a step runs is timed on the adapter in every variant
 * and the fastest is used from then on.
 *
 * The kernels name their problems (gemmProblemKey) and, while recordGemmProblems runs, note how to run them
 * again (noteGemmProblem); autotuneGemms times each on fresh random inputs. A variant changes only which
 * thread computes what and in which tiles, so the results agree to float rounding (a filter gradient's split-K
 * or a narrow kernel can sum in another order).
 */

/** One convolution GEMM the step runs, and how to run it again on other inputs of the same shapes. */
export interface GemmProblem {
  key: string;
  inputShapes: number[][];
  /** Multiply-adds × 2 of the convolution (what its three GEMMs share), for GFLOP/s in the table. */
  flops: number;
  /** The plan a variant gives (tiles, grid, code): variants with equal plans are timed once. */
  plan(variant: GemmVariant | undefined): unknown;
  /** Candidates besides GEMM_VARIANTS for this problem (narrow-conv.ts's kernels where N ≤ 4). */
  extraCandidates?: GemmVariant[];
  /** Variants to try once `best` has won among the candidates (settings that need no compilation). */
  refinements?(best: GemmVariant): GemmVariant[];
  /** Whether the variant's grid fits the device (default: always). */
  fits?(variant: GemmVariant): boolean;
  /** In `variant`, or in the default plan where it is undefined. */
  run(backend: WebGPUBackend, inputs: tf.TensorInfo[], variant: GemmVariant | undefined): tf.TensorInfo;
}

export interface GemmTuningResult {
  key: string;
  flops: number;
  variant: GemmVariant;
  /** ms of one call (wall time over queued calls) in the chosen variant, and in the untuned default plan. */
  ms: number;
  defaultMs: number;
  /** How many distinct plans there were, and those left out because their result disagreed with the default plan's. */
  candidates: number;
  rejected: GemmVariant[];
}

export const GEMM_VARIANTS: readonly GemmVariant[] = [false, true].flatMap((large) =>
  [false, true].flatMap((vector) => [false, true].map((prefetch) => ({ large, vector, prefetch }))),
);

const tuned = new Map<string, GemmVariant>();
let recording: Map<string, GemmProblem> | undefined;
let adapter = { device: '', isSoftware: true };

/**
 * initWebGpu names the adapter: tuned choices are saved under its name, and tuning is on by default only on a real
 * GPU (on a CPU adapter such as lavapipe, compiling every variant takes about a minute, and `auto` never trains there).
 */
export function setGemmTuningAdapter(device: string, isSoftware: boolean): void {
  adapter = { device, isSoftware };
}

/**
 * Whether training tunes its GEMMs by default: on the webgpu backend over a hardware adapter, unless
 * FACEGAN_GEMM_AUTOTUNE=0 (=1 turns it on anywhere on webgpu, e.g. lavapipe).
 */
export function gemmAutotuneDefault(): boolean {
  if (tf.getBackend() !== 'webgpu') return false;
  const setting = process.env.FACEGAN_GEMM_AUTOTUNE;
  return setting === undefined || setting === '' ? !adapter.isSoftware : setting !== '0';
}

/** 2 × the multiply-adds of a convolution: each of its three GEMMs (forward, input and filter gradients) does as many. */
export function convFlops(convInfo: tf.backend_util.Conv2DInfo): number {
  const { batchSize, outHeight, outWidth, outChannels, filterHeight, filterWidth, inChannels } = convInfo;
  return 2 * batchSize * outHeight * outWidth * outChannels * filterHeight * filterWidth * inChannels;
}

/** The key of a convolution GEMM problem: its kind and everything of the geometry its plan and code depend on. */
export function gemmProblemKey(kind: string, convInfo: tf.backend_util.Conv2DInfo, extra = ''): string {
  const { inShape, filterHeight, filterWidth, outChannels, strideHeight, strideWidth, padInfo } = convInfo;
  return `${kind} x${inShape.join('x')} f${filterHeight}x${filterWidth}x${outChannels} s${strideHeight}x${strideWidth} p${padInfo.top},${padInfo.left},${padInfo.bottom},${padInfo.right}${extra}`;
}

/** The variant tuned for this problem, if any (the kernels' default plan otherwise). */
export function tunedGemmVariant(key: string): GemmVariant | undefined {
  return tuned.get(key);
}

/** Called by the kernels on every call; `describe` runs only while recording, once per new problem. */
export function noteGemmProblem(key: string, describe: () => Omit<GemmProblem, 'key'>): void {
  if (recording && !recording.has(key) && !tuned.has(key)) recording.set(key, { key, ...describe() });
}

/** Runs `queue` (e.g. queues a training step) and returns what it returns with the untuned GEMM problems it ran. */
export function recordGemmProblems<T>(queue: () => T): { result: T; problems: GemmProblem[] } {
  const outer = recording;
  recording = new Map();
  try {
    const result = queue();
    return { result, problems: [...recording.values()] };
  } finally {
    recording = outer;
  }
}

export function gemmTuning(): Array<{ key: string; variant: GemmVariant }> {
  return [...tuned].map(([key, variant]) => ({ key, variant }));
}

/** Sets tuned choices (e.g. read from a file); clearGemmTuning() to drop them all. */
export function setGemmTuning(entries: Array<{ key: string; variant: GemmVariant }>): void {
  for (const { key, variant } of entries) {
    const { large, vector, prefetch, shape, splitScale, specialize, narrow, blocked, taps, double } = variant;
    tuned.set(key, {
      large,
      vector,
      prefetch,
      ...(shape === undefined ? {} : { shape }),
      ...(splitScale === undefined ? {} : { splitScale }),
      ...(specialize ? { specialize } : {}),
      ...(narrow ? { narrow } : {}),
      ...(narrow && blocked ? { blocked } : {}),
      ...(narrow && taps ? { taps } : {}),
      ...(double ? { double } : {}),
    });
  }
}

export function clearGemmTuning(): void {
  tuned.clear();
}

/** Bumped when a variant's meaning changes, so older files are not read. */
const TUNING_FILE_VERSION = 1;

interface TuningFile {
  version: number;
  device: string;
  entries: Array<{ key: string; variant: GemmVariant }>;
}

/**
 * Reads the choices tuned before on this adapter from `file` (written by saveGemmTuning), so a resumed run or the
 * next variant of a sweep runs the same variants without timing them again. A missing or unreadable file, or one
 * from another adapter, reads as nothing. Returns how many choices it read.
 */
export function loadGemmTuning(file: string): number {
  const { device } = adapter;
  let parsed: TuningFile;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8')) as TuningFile;
  } catch {
    return 0;
  }
  if (parsed?.version !== TUNING_FILE_VERSION || parsed.device !== device || !Array.isArray(parsed.entries)) return 0;
  const entries = parsed.entries.filter(
    (e) =>
      typeof e?.key === 'string' &&
      ['large', 'vector', 'prefetch'].every((k) => typeof e.variant?.[k as keyof GemmVariant] === 'boolean') &&
      (e.variant.splitScale === undefined || (typeof e.variant.splitScale === 'number' && e.variant.splitScale > 0)) &&
      (e.variant.shape === undefined || e.variant.shape === 'tall' || e.variant.shape === 'wide') &&
      (e.variant.specialize === undefined || typeof e.variant.specialize === 'boolean') &&
      (e.variant.narrow === undefined || typeof e.variant.narrow === 'boolean') &&
      (e.variant.blocked === undefined || typeof e.variant.blocked === 'boolean') &&
      (e.variant.taps === undefined || typeof e.variant.taps === 'boolean') &&
      (e.variant.double === undefined || typeof e.variant.double === 'boolean'),
  );
  setGemmTuning(entries);
  return entries.length;
}

/** Writes every choice tuned so far (with those read) to `file`, atomically (a temporary file, then a rename). */
export function saveGemmTuning(file: string): void {
  const content: TuningFile = { version: TUNING_FILE_VERSION, device: adapter.device, entries: gemmTuning() };
  mkdirSync(dirname(file), { recursive: true });
  const partial = `${file}.partial-${process.pid}`;
  writeFileSync(partial, `${JSON.stringify(content, null, 1)}\n`);
  renameSync(partial, file);
}

export interface AutotuneOptions {
  /** Timed rounds per candidate (the fastest round counts); default 3. */
  rounds?: number;
  /** Calls per timed round; default 4. */
  callsPerRound?: number;
  /** Also try variations of each winner (tile shape, split-K, shader constants); default true. */
  refine?: boolean;
}

/**
 * Times every distinct plan of each problem on the current (webgpu) backend and keeps the fastest for the
 * problem. Wall time over a few queued calls, from submit to done: launch overhead counts, as it does in a
 * step, and it needs no timestamp queries (which Dawn may quantise). Inputs are random (normal, drawn on the
 * device): a GEMM's time does not depend on its values. Before it is timed, each plan's result is compared with the default plan's on the
 * device: a plan this driver miscompiles, or whose pipeline Dawn rejects (its dispatches are then dropped, and
 * look fast), is never chosen.
 */
export async function autotuneGemms(problems: GemmProblem[], options: AutotuneOptions = {}): Promise<GemmTuningResult[]> {
  const rounds = options.rounds ?? 3;
  const callsPerRound = options.callsPerRound ?? 4;
  const backend = tf.backend() as WebGPUBackend;
  const results: GemmTuningResult[] = [];
  for (const problem of problems) {
    // drawn on the device: a step's activations are up to hundreds of MB, slow to draw in JS and upload
    const inputs = problem.inputShapes.map((shape, i) => randomNormalOnGpu(shape, i + 1));
    const reference = asTensor(problem.run(backend, inputs, undefined));
    try {
      const tolerance = AGREEMENT * Math.max(1, await maxAbs(reference));
      const defaultPlan = JSON.stringify(problem.plan(undefined));
      const candidates = distinctBy(
        [...GEMM_VARIANTS, ...(problem.extraCandidates ?? [])].filter((variant) => problem.fits?.(variant) ?? true),
        (variant) => JSON.stringify(problem.plan(variant)),
      );
      const timed: Array<{ variant: GemmVariant; ms: number; isDefault: boolean }> = [];
      const rejected: GemmVariant[] = [];
      const tryVariant = async (variant: GemmVariant) => {
        // the first call compiles; its result must agree with the default plan's
        backend.device.pushErrorScope('validation');
        const first = asTensor(problem.run(backend, inputs, variant));
        const error = await maxAbsDifference(first, reference);
        first.dispose();
        const invalid = await backend.device.popErrorScope();
        if (invalid || !(error <= tolerance)) {
          rejected.push(variant);
          return;
        }
        const run = () => backend.disposeData(problem.run(backend, inputs, variant).dataId);
        let best = Infinity;
        for (let round = 0; round < rounds; round++) {
          const start = performance.now();
          for (let call = 0; call < callsPerRound; call++) run();
          await settle(backend);
          best = Math.min(best, (performance.now() - start) / callsPerRound);
        }
        timed.push({ variant, ms: best, isDefault: JSON.stringify(problem.plan(variant)) === defaultPlan });
      };
      for (const variant of candidates) await tryVariant(variant);
      // then a few variations of the winner, one stage after the other
      const seen = new Set(candidates.map((v) => JSON.stringify(problem.plan(v))));
      const stages = options.refine === false ? [] : [rectangularTiles, ...(problem.refinements ? [problem.refinements] : []), doubleBuffered, specialized];
      for (const refine of stages) {
        const fastestSoFar = fastestOf(timed);
        if (!fastestSoFar) break;
        for (const variant of refine(fastestSoFar.variant)) {
          const plan = JSON.stringify(problem.plan(variant));
          if (seen.has(plan) || !(problem.fits?.(variant) ?? true)) continue;
          seen.add(plan);
          await tryVariant(variant);
        }
      }
      const fastest = fastestOf(timed);
      if (!fastest) continue;
      tuned.set(problem.key, fastest.variant);
      results.push({
        key: problem.key,
        flops: problem.flops,
        variant: fastest.variant,
        ms: fastest.ms,
        defaultMs: timed.find((t) => t.isDefault)?.ms ?? NaN,
        candidates: timed.length + rejected.length,
        rejected,
      });
    } finally {
      reference.dispose();
      for (const input of inputs) input.dispose();
    }
  }
  return results;
}

function fastestOf<T extends { ms: number }>(timed: T[]): T | undefined {
  return timed.reduce<T | undefined>((a, b) => (a === undefined || b.ms < a.ms ? b : a), undefined);
}

/**
 * A large-tile winner with 8 outputs per thread along one dimension only (128×64 or 64×128 tiles): half the
 * accumulators, so more workgroups fit on a multiprocessor where registers limit them.
 */
function rectangularTiles(best: GemmVariant): GemmVariant[] {
  return best.large && !best.narrow ? [{ ...best, shape: 'tall' }, { ...best, shape: 'wide' }] : [];
}

/** The winner with two of each workgroup tile, one barrier a K-step (GemmTile.double). */
function doubleBuffered(best: GemmVariant): GemmVariant[] {
  return best.narrow || best.double ? [] : [{ ...best, double: true, prefetch: true }];
}

/** The winner with its geometry as shader constants (GemmTile.specialize): one more compilation, for this problem alone. */
function specialized(best: GemmVariant): GemmVariant[] {
  return best.narrow ? [] : [{ ...best, specialize: true }];
}

/**
 * How far a plan's result may be from the default plan's, relative to the largest |value|: both sum the same
 * float32 products, most in the same order (a filter gradient's split-K can differ); a broken plan is off by O(1).
 */
const AGREEMENT = 1e-3;

function asTensor(info: tf.TensorInfo): tf.Tensor {
  return tf.engine().makeTensorFromTensorInfo(info);
}

async function maxAbs(tensor: tf.Tensor): Promise<number> {
  const max = tf.tidy(() => tf.max(tf.abs(tensor)));
  const [value] = await max.data();
  max.dispose();
  return value;
}

async function maxAbsDifference(a: tf.Tensor, b: tf.Tensor): Promise<number> {
  const difference = tf.sub(a, b);
  try {
    return await maxAbs(difference);
  } finally {
    difference.dispose();
  }
}

/**
 * Runs `queue` (e.g. queues the first training step) recording the GEMM problems it runs, then tunes them; the
 * device runs the queued work meanwhile. Returns what `queue` returned and the tuning.
 */
export async function queueAndTune<T>(queue: () => T, options: AutotuneOptions = {}): Promise<{ result: T; tuning: GemmTuningResult[] }> {
  const { result, problems } = recordGemmProblems(queue);
  // a step that fails meanwhile is reported where its promise is awaited, not as an unhandled rejection
  if (result instanceof Promise) result.catch(() => undefined);
  return { result, tuning: await autotuneGemms(problems, options) };
}

/** Submits what tfjs has batched and waits until the device has done it all. */
async function settle(backend: WebGPUBackend): Promise<void> {
  backend.endComputePassEncoder();
  backend.ensureCommandEncoderReady();
  backend.submitQueue();
  await backend.device.queue.onSubmittedWorkDone();
}

function distinctBy<T>(items: readonly T[], key: (item: T) => string): T[] {
  const seen = new Set<string>();
  return items.filter((item) => {
    const k = key(item);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** One line per problem, for logs: the chosen variant and its time against the default plan's. */
/** The problems' ms (one call of each) in the chosen variants and in the default plans, and their FLOPs. */
export function gemmTuningTotals(results: GemmTuningResult[]): { ms: number; defaultMs: number; flops: number } {
  return results.reduce((t, r) => ({ ms: t.ms + r.ms, defaultMs: t.defaultMs + r.defaultMs, flops: t.flops + r.flops }), { ms: 0, defaultMs: 0, flops: 0 });
}

export function formatGemmTuning(results: GemmTuningResult[]): string {
  const name = (v: GemmVariant) =>
    v.narrow
      ? v.taps
        ? 'narrow (1x1 GEMM to the taps + tap sum)'
        : `narrow (untiled${v.blocked ? ', blocked' : ''})`
      : [v.large ? 'large' : 'medium', v.shape ?? '', v.vector ? 'vec4' : 'scalar', v.double ? 'double' : v.prefetch ? 'prefetch' : '', v.splitScale ? `splits×${v.splitScale}` : '', v.specialize ? 'const' : '']
      .filter(Boolean)
      .join('+');
  const gflops = (flops: number, ms: number) => (flops / ms / 1e6).toFixed(0).padStart(7);
  const rows = results.map(
    (r) =>
      `${r.key.padEnd(64)} ${name(r.variant).padEnd(34)} ${r.ms.toFixed(3).padStart(9)} ms ${gflops(r.flops, r.ms)} GFLOP/s  ` +
      `default ${r.defaultMs.toFixed(3).padStart(9)} ms ${gflops(r.flops, r.defaultMs)}  (${r.candidates} plans` +
      `${r.rejected.length > 0 ? `; wrong results, left out: ${r.rejected.map(name).join(', ')}` : ''})`,
  );
  const total = gemmTuningTotals(results);
  rows.push(
    `all ${results.length} problems: ${total.ms.toFixed(2)} ms a call each (${gflops(total.flops, total.ms).trim()} GFLOP/s), ` +
      `against ${total.defaultMs.toFixed(2)} ms in the default plans (${gflops(total.flops, total.defaultMs).trim()} GFLOP/s)`,
  );
  return rows.join('\n');
}
