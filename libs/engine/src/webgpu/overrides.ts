import * as tf from '@tensorflow/tfjs';
import { activationGradWebGpuKernel, leakyReluGradient, reluGradient, squareGradient } from './activation-grad';
import { adamMomentWebGpuKernel, adamWeightWebGpuKernel } from './adam';
import { batchNormGradWebGpuKernels, fusedBatchNormGradient } from './batch-norm-grad';
import { backpropFilterGemmKernel } from './conv2d-backprop-filter';
import { backpropInputGemmKernel } from './conv2d-backprop-input';
import { forwardConvGemmKernel } from './conv2d-forward';
import { gpuDropoutCpuKernel, gpuDropoutGradient, gpuDropoutWebGpuKernel } from './dropout';
import { BROADCAST_DIVIDE_KERNEL, broadcastDivideWebGpuKernel, broadcastMeanGradient, broadcastSumGradient } from './gradients';
import { gpuRandomNormalWebGpuKernel } from './random-normal';
import { columnMeanKernel, columnSumKernel } from './reduce';
import { subPixelWebGpuKernels } from './sub-pixel';
import { fusedBatchNormVec4Kernel, leakyReluVec4Kernel, reluVec4Kernel } from './vec4-forward';

/**
 * The project's replacements for stock tfjs pieces, installed and removed as one set (the benchmark
 * times the stock backend and then ours in one process). Gradients are global in tfjs, so the
 * replaced ones must be correct on every backend; kernels are registered for 'webgpu' only (and the
 * cpu reference of the dropout kernel, so the cpu backend can check it).
 */

interface Saved {
  kernels: tf.KernelConfig[];
  gradients: tf.GradConfig[];
}

/** What was registered before us; undefined while our overrides are not installed. */
let saved: Saved | undefined;
let webGpuKernelsInstalled = false;

const replacedGradients = [broadcastSumGradient, broadcastMeanGradient];

export function webGpuOverridesInstalled(): boolean {
  return saved !== undefined;
}

/**
 * Which project kernels to install: 'all' (the default); or, as baselines for the benchmark, 'v1', the
 * first round's set (gradients, GPU dropout and latents, backprop-filter GEMM), and 'v2', the second
 * round's default: everything but the forward-convolution GEMM, which became the default once measured
 * (H200, 2026-11-26: 943 against 844 img/s at 64 px with tfjs's Conv2DMMProgram).
 */
export type WebGpuOverrideSet = 'all' | 'v2' | 'v1';
let installedSet: WebGpuOverrideSet = 'all';

/**
 * Registers the project's gradient overrides and kernels. Idempotent. The webgpu kernels replace
 * stock ones that exist only once @tensorflow/tfjs-backend-webgpu has been imported (importing it
 * later would register the stock ones over ours), so they are installed on the first call after
 * that import; initWebGpu calls this after it.
 */
export function installWebGpuOverrides(set: WebGpuOverrideSet = 'all'): void {
  if (saved && set !== installedSet) removeWebGpuOverrides();
  if (!saved) {
    const stockBatchNormGradient = tf.getGradient(tf.FusedBatchNorm);
    const stockLeakyReluGradient = tf.getGradient(tf.LeakyRelu);
    const stockReluGradient = tf.getGradient(tf.Relu);
    const stockSquareGradient = tf.getGradient(tf.Square);
    saved = {
      kernels: [],
      gradients: [
        ...replacedGradients.map((g) => tf.getGradient(g.kernelName)),
        stockBatchNormGradient,
        stockLeakyReluGradient,
        stockReluGradient,
        stockSquareGradient,
      ].filter(isDefined),
    };
    for (const gradient of [...replacedGradients, gpuDropoutGradient]) tf.registerGradient(gradient);
    // These fall back to tfjs-core's gradients off webgpu and for what they do not cover.
    if (set !== 'v1') {
      if (stockBatchNormGradient) tf.registerGradient(fusedBatchNormGradient(stockBatchNormGradient));
      if (stockLeakyReluGradient) tf.registerGradient(leakyReluGradient(stockLeakyReluGradient));
      if (stockReluGradient) tf.registerGradient(reluGradient(stockReluGradient));
      if (stockSquareGradient) tf.registerGradient(squareGradient(stockSquareGradient));
    }
    replaceKernels([gpuDropoutCpuKernel]);
    installedSet = set;
  }
  const stockBackpropFilter = tf.getKernel(tf.Conv2DBackpropFilter, 'webgpu');
  if (!webGpuKernelsInstalled && stockBackpropFilter) {
    const kernels = [backpropFilterGemmKernel(stockBackpropFilter), gpuDropoutWebGpuKernel, gpuRandomNormalWebGpuKernel];
    if (set !== 'v1') {
      kernels.push(
        backpropInputGemmKernel(tf.getKernel(tf.Conv2DBackpropInput, 'webgpu')),
        columnSumKernel(tf.getKernel(tf.Sum, 'webgpu')),
        columnMeanKernel(tf.getKernel(tf.Mean, 'webgpu')),
        broadcastDivideWebGpuKernel,
        // these replace nothing: with them the generator's UpsampleConv2D layers run as sub-pixel convolutions
        ...subPixelWebGpuKernels,
      );
    }
    if (set === 'all') {
      kernels.push(
        forwardConvGemmKernel(tf.getKernel(tf.FusedConv2D, 'webgpu')),
        forwardConvGemmKernel(tf.getKernel(tf.Conv2D, 'webgpu'), tf.Conv2D),
        fusedBatchNormVec4Kernel(tf.getKernel(tf.FusedBatchNorm, 'webgpu')),
        reluVec4Kernel(tf.getKernel(tf.Relu, 'webgpu')),
        leakyReluVec4Kernel(tf.getKernel(tf.LeakyRelu, 'webgpu')),
      );
    }
    // These replace nothing; FusedAdamOptimizer and the batch-norm gradient use them when registered.
    kernels.push(adamMomentWebGpuKernel, adamWeightWebGpuKernel, ...batchNormGradWebGpuKernels, activationGradWebGpuKernel);
    replaceKernels(kernels);
    webGpuKernelsInstalled = true;
  }
}

function replaceKernels(kernels: tf.KernelConfig[]): void {
  for (const kernel of kernels) {
    const stock = tf.getKernel(kernel.kernelName, kernel.backendName);
    if (stock) {
      saved?.kernels.push(stock);
      // registerKernel warns on a replacement; unregister first, the stock config is kept in `saved`.
      tf.unregisterKernel(kernel.kernelName, kernel.backendName);
    }
    tf.registerKernel(kernel);
  }
}

/**
 * Puts the stock kernels and gradients back. Kernels that replace nothing stay registered (dropout,
 * latents, Adam, ...), except the one the Mean gradient would pick up.
 */
export function removeWebGpuOverrides(): void {
  if (!saved) return;
  for (const kernel of saved.kernels) {
    tf.unregisterKernel(kernel.kernelName, kernel.backendName);
    tf.registerKernel(kernel);
  }
  for (const gradient of saved.gradients) tf.registerGradient(gradient);
  // The Mean gradient (kept by the 'v1' set) takes this kernel whenever it is registered.
  if (tf.getKernel(BROADCAST_DIVIDE_KERNEL, 'webgpu')) tf.unregisterKernel(BROADCAST_DIVIDE_KERNEL, 'webgpu');
  saved = undefined;
  webGpuKernelsInstalled = false;
}

function isDefined<T>(value: T | undefined): value is T {
  return value !== undefined;
}
