// Runs in its own worker (vitest pool 'forks'), so the wasm backend is initialised only here, AFTER
// registration: the order a backend init that registers first and calls tf.setBackend later uses.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { describe, expect, it } from 'vitest';
import { registerWasmTrainingKernels } from './index';

describe('registerWasmTrainingKernels before the wasm backend is initialised', () => {
  it('keeps the stock fallbacks working (their setupFunc still runs)', async () => {
    registerWasmTrainingKernels();
    await tf.setBackend('wasm');
    expect(tf.getBackend()).toBe('wasm');
    // Mean over a non-leading axis and a dx with an oversized explicit pad both take the stock path.
    const x = tf.tensor3d([1, 2, 3, 4, 5, 6, 7, 8], [2, 2, 2]);
    expect(Array.from(tf.mean(x, 1).dataSync())).toEqual([2, 3, 6, 7]);
    const dx = tf.engine().runKernel(
      'Conv2DBackpropInput',
      { dy: tf.ones([1, 7, 4, 1]), filter: tf.ones([2, 2, 1, 1]) },
      { strides: 1, pad: [[0, 0], [3, 0], [0, 3], [0, 0]], dataFormat: 'NHWC', inputShape: [1, 6, 6, 1] },
    ) as tf.Tensor;
    expect(dx.shape).toEqual([1, 6, 6, 1]);
    expect(dx.dataSync().every((v) => Number.isFinite(v))).toBe(true);
  });
});
