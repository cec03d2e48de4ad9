import * as tf from '@tensorflow/tfjs';
import { backpropFilterGemmKernel } from './conv2d-backprop-filter';
import { gpuDropoutCpuKernel, gpuDropoutGradient, gpuDropoutWebGpuKernel } from './dropout';
import { broadcastMeanGradient, broadcastSumGradient } from './gradients';
import { gpuRandomNormalWebGpuKernel } from './random-normal';

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
 * Registers the project's gradient overrides and kernels. Idempotent. The webgpu kernels replace
 * stock ones that exist only once @tensorflow/tfjs-backend-webgpu has been imported (importing it
 * later would register the stock ones over ours), so they are installed on the first call after
 * that import; initWebGpu calls this after it.
 */
export function installWebGpuOverrides(): void {
  if (!saved) {
    saved = {
      kernels: [],
      gradients: replacedGradients.map((g) => tf.getGradient(g.kernelName)).filter(isDefined),
    };
    for (const gradient of [...replacedGradients, gpuDropoutGradient]) tf.registerGradient(gradient);
    replaceKernels([gpuDropoutCpuKernel]);
  }
  const stockBackpropFilter = tf.getKernel(tf.Conv2DBackpropFilter, 'webgpu');
  if (!webGpuKernelsInstalled && stockBackpropFilter) {
    replaceKernels([backpropFilterGemmKernel(stockBackpropFilter), gpuDropoutWebGpuKernel, gpuRandomNormalWebGpuKernel]);
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

/** Puts the stock kernels and gradients back (the dropout and random kernels stay: they replace nothing). */
export function removeWebGpuOverrides(): void {
  if (!saved) return;
  for (const kernel of saved.kernels) {
    tf.unregisterKernel(kernel.kernelName, kernel.backendName);
    tf.registerKernel(kernel);
  }
  for (const gradient of saved.gradients) tf.registerGradient(gradient);
  saved = undefined;
  webGpuKernelsInstalled = false;
}

function isDefined<T>(value: T | undefined): value is T {
  return value !== undefined;
}
