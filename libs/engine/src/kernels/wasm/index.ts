/**
 * Registers the project's kernels for the tfjs `wasm` backend, so that the seed DCGAN's training
 * step runs there, fast:
 *
 * - Conv2DBackpropFilter (missing in tfjs-backend-wasm 4.22: training fails without it) and
 *   Conv2DBackpropInput (a scalar loop, ~10x slower than the forward conv), both re-expressed as
 *   forward XNNPACK convolutions;
 * - Sum, Mean and Tile fast paths for the per-channel reductions/broadcasts of BatchNormalization
 *   (the stock kernels go through the slow generic Transpose / Tile);
 * - a ResizeNearestNeighborGrad fast path for UpSampling2D's integer factors;
 * - an Identity (and a same-dtype Cast) that shares data instead of copying it (tfjs clones every
 *   tensor the tape saves; tf.moments casts float32 to float32);
 * - FusedBatchNorm (forward) and LeakyRelu on XNNPACK's SIMD kernels, ~10x the stock scalar ones;
 * - the fused Adam update (three kernels a variable instead of ~12; fused-adam.ts);
 * - the data movement of the generator's sub-pixel upsample + conv (sub-pixel.ts), which then runs
 *   in about half the multiply-adds of UpSampling2D + Conv2D;
 * - gradients (global registry, active on 'wasm' only): batch norm's backward pass as one kernel, and
 *   Sum/Mean gradients without an all-ones tensor (gradients.ts).
 *
 * Idempotent. Call it AFTER importing '@tensorflow/tfjs-backend-wasm' (importing it registers the
 * stock kernels, which would overwrite ours); before or after tf.setBackend('wasm') both work: our
 * kernels call kernels the backend sets up, and carry the setupFunc of the stock kernel they replace.
 */
import { getKernel, registerKernel, unregisterKernel, type KernelConfig, type KernelFunc } from '@tensorflow/tfjs';
import { createAdamMomentKernel, createAdamWeightKernel } from './adam';
import { createMeanKernel, createSumKernel, createTileKernel } from './broadcast-kernels';
import { createConv2DBackpropFilterKernel } from './conv2d-backprop-filter';
import { createConv2DBackpropInputKernel } from './conv2d-backprop-input';
import { createFusedBatchNormKernel, createLeakyReluKernel } from './elementwise-kernels';
import { registerWasmGradients, unregisterWasmGradients, wasmGradientsRegistered } from './gradients';
import { createCastKernel, createIdentityKernel } from './identity';
import { createResizeNearestNeighborGradKernel } from './resize-nearest';
import { createBatchNormTrainGradKernel, createMovingAverageKernel } from './batch-norm-train';
import { createDeinterleaveKernel, createInterleaveKernel, createPhaseFilterGradKernel, createPhaseFilterKernel } from './sub-pixel';

const BACKEND = 'wasm';

/** Each override, built around the stock kernel it replaces (used for the cases it does not cover). */
const OVERRIDES: Record<string, (stock: KernelFunc | undefined) => KernelConfig> = {
  Conv2DBackpropInput: createConv2DBackpropInputKernel,
  Conv2DBackpropFilter: () => createConv2DBackpropFilterKernel(),
  Sum: createSumKernel,
  Mean: createMeanKernel,
  Tile: createTileKernel,
  ResizeNearestNeighborGrad: createResizeNearestNeighborGradKernel,
  Identity: createIdentityKernel,
  Cast: createCastKernel,
  FusedBatchNorm: createFusedBatchNormKernel,
  LeakyRelu: createLeakyReluKernel,
  // new kernels (no stock ones): FusedAdamOptimizer uses them when registered
  FaceganAdamMoment: createAdamMomentKernel,
  FaceganAdamWeight: createAdamWeightKernel,
  // the generator's sub-pixel upsample + conv (@facegan/model's UpsampleConv2D) runs when these are registered
  FaceganSubPixelFilter: createPhaseFilterKernel,
  FaceganSubPixelFilterGrad: createPhaseFilterGradKernel,
  FaceganPhaseInterleave: createInterleaveKernel,
  FaceganPhaseDeinterleave: createDeinterleaveKernel,
  // @facegan/model's FaceganBatchNormalization runs its training step on these when registered
  FaceganBatchNormTrainGrad: createBatchNormTrainGradKernel,
  FaceganMovingAverage: createMovingAverageKernel,
};

/** What was registered before us, per kernel name (undefined: nothing), to fall back to / restore. */
const stockKernels = new Map<string, KernelConfig | undefined>();
const ourKernels = new Set<KernelConfig>();

function isOurs(kernelName: string): boolean {
  const current = getKernel(kernelName, BACKEND);
  return current !== undefined && ourKernels.has(current);
}

export function registerWasmTrainingKernels(): void {
  for (const [name, create] of Object.entries(OVERRIDES)) {
    if (isOurs(name)) continue;
    const current = getKernel(name, BACKEND);
    stockKernels.set(name, current);
    // Keep the stock setup/dispose hooks: our fallback calls the stock kernelFunc, whose wasm
    // bindings are made by its setupFunc when the backend initialises (which may be later).
    const config: KernelConfig = {
      ...create(current?.kernelFunc),
      setupFunc: current?.setupFunc,
      disposeFunc: current?.disposeFunc,
    };
    if (current !== undefined) unregisterKernel(name, BACKEND);
    registerKernel(config);
    ourKernels.add(config);
  }
  registerWasmGradients();
}

/** True when every kernel of registerWasmTrainingKernels() is the one registered for 'wasm'. */
export function wasmTrainingKernelsRegistered(): boolean {
  return Object.keys(OVERRIDES).every(isOurs) && wasmGradientsRegistered();
}

/**
 * Puts back what registerWasmTrainingKernels() replaced (for benchmarks and tests); kernels named in
 * `keep` stay ours (stock tfjs has no Conv2DBackpropFilter: a training step needs ours).
 */
export function unregisterWasmTrainingKernels(options: { keep?: readonly string[] } = {}): void {
  for (const [name, stock] of stockKernels) {
    if (!isOurs(name) || options.keep?.includes(name)) continue;
    unregisterKernel(name, BACKEND);
    if (stock !== undefined) registerKernel(stock);
  }
  unregisterWasmGradients();
}
