/**
 * FaceganBatchNormalization's kernels (libs/model/src/batch-norm.ts) on 'wasm': the training gradient and the
 * moving-average update. The full-size passes run on XNNPACK (the sums as for tfjs's batch-norm gradient,
 * gradients.ts, and dx as two per-channel affine maps and an add); only per-channel vectors in JavaScript.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { BATCH_NORM_TRAIN_GRAD, MOVING_AVERAGE, type BatchNormTrainGradAttrs, type MovingAverageAttrs } from '@facegan/model';
import { heapView, runWasmKernel, withScratch } from './compose';
import { scaleChannels } from './elementwise-kernels';
import { batchNormGradSums } from './gradients';

/**
 * Inputs x, mean, variance, scale, dy (channels last); outputs dx, dScale, dOffset. With r = 1/√(σ² + ε),
 * N values per channel, s0 = Σdy, s1 = Σdy·(x − μ):
 *   dx = γr·dy − γr·s0/N − γr³·s1/N·(x − μ),  dγ = r·s1,  dβ = s0
 */
export function createBatchNormTrainGradKernel(): tf.KernelConfig {
  const kernelFunc: tf.KernelFunc = (args) => {
    const backend = args.backend as BackendWasm;
    const { x, mean, variance, scale, dy } = args.inputs as Record<string, tf.TensorInfo>;
    const { varianceEpsilon } = args.attrs as unknown as BatchNormTrainGradAttrs;
    const channels = x.shape[x.shape.length - 1];
    const rows = tf.util.sizeFromShape(x.shape) / channels;
    return withScratch(backend, (scratch) => {
      // rank 4 for the per-channel depthwise convolutions: [rows, 1, 1, channels] views, no copies
      const as4d = (info: tf.TensorInfo) => (info.shape.length === 4 ? info : scratch.view(info, 0, [rows, 1, 1, channels]));
      const { centred, s0, s1, r } = batchNormGradSums(scratch, as4d(x), mean, variance, as4d(dy), varianceEpsilon);
      const gamma = heapView(backend, scale);
      const dyScale = new Float64Array(channels);
      const dyShift = new Float64Array(channels);
      const centredScale = new Float64Array(channels);
      for (let c = 0; c < channels; c++) {
        dyScale[c] = gamma[c] * r[c];
        dyShift[c] = (-dyScale[c] * s0[c]) / rows;
        centredScale[c] = (-dyScale[c] * r[c] * r[c] * s1[c]) / rows;
      }
      const scaledDy = scratch.track(scaleChannels(scratch, as4d(dy), dyScale, dyShift));
      const scaledCentred = scratch.track(scaleChannels(scratch, centred, centredScale));
      const dx4d = runWasmKernel(backend, tf.Add, { a: scaledDy, b: scaledCentred });
      const dx = { ...dx4d, shape: x.shape };
      const [dScale, dOffset] = [0, 1].map(() => backend.makeOutput([channels], 'float32'));
      const [dScaleValues, dOffsetValues] = [dScale, dOffset].map((v) => heapView(backend, v));
      // (heap views taken before the allocations above may be stale: only JS arrays from here on)
      for (let c = 0; c < channels; c++) {
        dScaleValues[c] = r[c] * s1[c];
        dOffsetValues[c] = s0[c];
      }
      return [dx, dScale, dOffset];
    });
  };
  return { kernelName: BATCH_NORM_TRAIN_GRAD, backendName: 'wasm', kernelFunc };
}

/** Inputs average, value: average − (average − value)·decay, in float32 steps as tfjs-layers' Sub, Multiply, Sub. */
export function createMovingAverageKernel(): tf.KernelConfig {
  const kernelFunc: tf.KernelFunc = (args) => {
    const backend = args.backend as BackendWasm;
    const { average, value } = args.inputs as Record<string, tf.TensorInfo>;
    const { decay } = args.attrs as unknown as MovingAverageAttrs;
    const out = backend.makeOutput(average.shape, 'float32');
    const [a, v, o] = [average, value, out].map((info) => heapView(backend, info));
    const d = Math.fround(decay);
    for (let i = 0; i < o.length; i++) o[i] = a[i] - Math.fround(Math.fround(a[i] - v[i]) * d);
    return out;
  };
  return { kernelName: MOVING_AVERAGE, backendName: 'wasm', kernelFunc };
}
