import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { isBlockRepeat, leadingReduction, poolingWindow } from './broadcast-kernels';
import { WASM_BATCH_NORM_GRAD } from './gradients';
import { registerWasmTrainingKernels, unregisterWasmTrainingKernels, wasmTrainingKernelsRegistered } from './index';

function values(size: number, seed: number): Float32Array {
  const out = new Float32Array(size);
  let s = seed;
  for (let i = 0; i < size; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/** Runs `f` on a backend and returns its result's values and shape. */
async function on(backend: string, f: () => tf.Tensor): Promise<{ values: Float32Array; shape: number[] }> {
  await tf.setBackend(backend);
  return tf.tidy(() => {
    const out = f();
    return { values: out.dataSync() as Float32Array, shape: out.shape };
  });
}

async function expectSameOnCpuAndWasm(f: () => tf.Tensor, label: string): Promise<void> {
  const reference = await on('cpu', f);
  const candidate = await on('wasm', f);
  expect(candidate.shape, label).toEqual(reference.shape);
  let maxRef = 1;
  let maxDiff = 0;
  reference.values.forEach((v, i) => {
    maxRef = Math.max(maxRef, Math.abs(v));
    maxDiff = Math.max(maxDiff, Math.abs(v - candidate.values[i]));
  });
  expect(maxDiff / maxRef, label).toBeLessThanOrEqual(1e-5);
}

describe('wasm Sum / Mean / Tile / ResizeNearestNeighbor(Grad) / FusedBatchNorm / LeakyRelu / Identity fast paths', () => {
  beforeAll(async () => {
    await tf.setBackend('wasm');
    registerWasmTrainingKernels();
  });

  it('recognises leading-axis reductions and block repeats', () => {
    expect(leadingReduction([4, 5, 6, 3], [0, 1, 2])).toEqual({ reducedAxes: 3, rows: 120, cols: 3 });
    expect(leadingReduction([4, 5, 6, 3], [1, 0])).toEqual({ reducedAxes: 2, rows: 20, cols: 18 });
    expect(leadingReduction([4, 5, 6, 3], [-4])).toEqual({ reducedAxes: 1, rows: 4, cols: 90 });
    expect(leadingReduction([4, 5, 6, 3], [1, 2])).toBeNull();
    expect(leadingReduction([4, 5, 6, 3], [0, 1, 2, 3])).toBeNull();
    expect(isBlockRepeat([1, 1, 1, 8], [4, 5, 6, 1])).toBe(true);
    expect(isBlockRepeat([1, 3, 8], [2, 1, 1])).toBe(true);
    expect(isBlockRepeat([1, 3, 8], [2, 2, 1])).toBe(true);
    expect(isBlockRepeat([2, 3], [1, 2])).toBe(false);
    expect(isBlockRepeat([2, 1], [1, 3])).toBe(false);
    // pooling windows for the column sums: the largest divisor up to 1,024 (1: no pooling)
    expect(poolingWindow(32 * 32 * 32)).toBe(1024);
    expect(poolingWindow(32 * 9 * 9)).toBe(864);
    expect(poolingWindow(105)).toBe(105);
    expect(poolingWindow(1031)).toBe(1);
    expect(poolingWindow(2 * 1031)).toBe(2);
  });

  it('Sum and Mean match cpu on fast and fallback axes', async () => {
    const shapes = [
      [3, 5, 7, 4],
      [2, 9, 1, 6],
      [6, 5],
      [4, 32, 32, 5], // pooled in windows of 1,024 rows
      [1031, 3], // a prime row count: JavaScript column sums
    ];
    for (const [i, shape] of shapes.entries()) {
      const data = values(shape.reduce((a, b) => a * b), 11 + i);
      const axesList: number[][] = shape.length === 4 ? [[0, 1, 2], [0], [0, 1], [1, 2], [3], [0, 1, 2, 3]] : [[0], [1], [0, 1]];
      for (const axes of axesList) {
        for (const keepDims of [false, true]) {
          const label = `[${shape}] axes [${axes}] keepDims ${keepDims}`;
          await expectSameOnCpuAndWasm(() => tf.sum(tf.tensor(data, shape), axes, keepDims), `sum ${label}`);
          await expectSameOnCpuAndWasm(() => tf.mean(tf.tensor(data, shape), axes, keepDims), `mean ${label}`);
        }
      }
    }
    // int32 goes to the stock kernel.
    await expectSameOnCpuAndWasm(() => tf.sum(tf.tensor([[1, 2], [3, 4]], [2, 2], 'int32'), 0), 'int32 sum');
  });

  it('Tile matches cpu on block repeats and general reps', async () => {
    const cases: [number[], number[]][] = [
      [[1, 1, 1, 5], [3, 4, 6, 1]],
      [[1, 1, 1, 5], [1, 1, 7, 1]],
      [[1, 2, 3], [5, 1, 1]],
      [[2, 3], [2, 2]],
      [[3, 1, 2], [1, 4, 1]],
    ];
    for (const [i, [shape, reps]] of cases.entries()) {
      const data = values(shape.reduce((a, b) => a * b), 21 + i);
      await expectSameOnCpuAndWasm(() => tf.tile(tf.tensor(data, shape), reps), `tile [${shape}] by [${reps}]`);
    }
  });

  it('ResizeNearestNeighbor and its gradient match their definition (integer factors and fallbacks)', async () => {
    // The gradient is checked against the definition, not the cpu backend: tfjs-backend-cpu 4.22's
    // ResizeNearestNeighborGrad offsets dy by the *images* batch stride, so it is wrong for batch > 1
    // (stock wasm agrees with the definition). Fallback cases use batch 1, where cpu is right.
    const cases: [number[], [number, number], boolean, boolean][] = [
      [[2, 4, 5, 3], [8, 10], false, false],
      [[3, 3, 3, 2], [9, 6], false, false],
      [[1, 4, 4, 1], [6, 7], false, false],
      [[1, 4, 4, 2], [8, 8], true, false],
      [[1, 4, 4, 2], [8, 8], false, true],
    ];
    for (const [i, [shape, size, alignCorners, halfPixelCenters]] of cases.entries()) {
      const [batch, height, width, channels] = shape;
      const data = values(shape.reduce((a, b) => a * b), 31 + i);
      const weights = values(batch * size[0] * size[1] * channels, 41 + i);
      const label = `[${shape}] -> [${size}] align ${alignCorners} half ${halfPixelCenters}`;
      const resize = (x: tf.Tensor) =>
        tf.image.resizeNearestNeighbor(x as tf.Tensor4D, size, alignCorners, halfPixelCenters);
      const gradient = () =>
        tf.grad((x: tf.Tensor) => tf.sum(tf.mul(resize(x), tf.tensor(weights, [batch, ...size, channels]))))(
          tf.tensor(data, shape),
        );
      await expectSameOnCpuAndWasm(() => resize(tf.tensor(data, shape)), `resize ${label}`);
      const integer = !alignCorners && !halfPixelCenters && size[0] % height === 0 && size[1] % width === 0;
      if (!integer) {
        await expectSameOnCpuAndWasm(gradient, `resize grad ${label}`);
        continue;
      }
      // d/dx of sum(resize(x) * weights): each input pixel collects the weights of its fh x fw block.
      const [fh, fw] = [size[0] / height, size[1] / width];
      const expected = new Float32Array(data.length);
      for (let b = 0; b < batch; b++)
        for (let oh = 0; oh < size[0]; oh++)
          for (let ow = 0; ow < size[1]; ow++)
            for (let c = 0; c < channels; c++)
              expected[((b * height + Math.floor(oh / fh)) * width + Math.floor(ow / fw)) * channels + c] +=
                weights[((b * size[0] + oh) * size[1] + ow) * channels + c];
      const candidate = await on('wasm', gradient);
      const maxDiff = Math.max(...Array.from(expected, (v, j) => Math.abs(v - candidate.values[j])));
      expect(maxDiff, `resize grad ${label}`).toBeLessThanOrEqual(1e-5);
    }
  });

  it('FusedBatchNorm matches cpu with and without offset and scale, and falls back for full-size statistics', async () => {
    const shape: [number, number, number, number] = [3, 4, 5, 6];
    const data = values(3 * 4 * 5 * 6, 51);
    const channel = (seed: number, lo: number, hi: number) => values(6, seed).map((v) => lo + ((v + 1) / 2) * (hi - lo));
    const [mean, variance, offset, scale] = [channel(52, -1, 1), channel(53, 0.1, 2), channel(54, -1, 1), channel(55, 0.5, 1.5)];
    const x = () => tf.tensor(data, shape) as tf.Tensor4D;
    await expectSameOnCpuAndWasm(() => tf.batchNorm(x(), mean, variance, offset, scale, 1e-3), 'batchNorm, all inputs');
    await expectSameOnCpuAndWasm(() => tf.batchNorm(x(), mean, variance, undefined, undefined, 1e-3), 'batchNorm, no offset or scale');
    await expectSameOnCpuAndWasm(
      () => {
        const asChannels = (v: Float32Array) => tf.tensor(v, [1, 1, 1, 6]);
        return tf.batchNorm(x(), asChannels(mean), asChannels(variance), asChannels(offset), asChannels(scale), 0.1);
      },
      'batchNorm, [1, 1, 1, c] statistics',
    );
    const fullSize = values(data.length, 56).map((v) => v * v + 0.5);
    await expectSameOnCpuAndWasm(
      () => tf.batchNorm(x(), tf.tensor(data, shape).mul(0.5), tf.tensor(fullSize, shape), undefined, undefined, 1e-3),
      'batchNorm, full-size statistics (stock kernel)',
    );
  });

  it('LeakyRelu matches cpu, including zeros and the int32 fallback', async () => {
    const data = values(2 * 7 * 3 * 5, 61);
    data[0] = 0;
    data[1] = -0;
    await expectSameOnCpuAndWasm(() => tf.leakyRelu(tf.tensor(data, [2, 7, 3, 5]), 0.2), 'leakyRelu 0.2');
    await expectSameOnCpuAndWasm(() => tf.leakyRelu(tf.tensor(data, [210]), 0), 'leakyRelu 0');
    await expectSameOnCpuAndWasm(() => tf.leakyRelu(tf.tensor([-3, 0, 4], [3], 'int32'), 0.5), 'leakyRelu int32');
  });

  it('Identity shares the data: clones read the same values, survive the original and free nothing early', async () => {
    await tf.setBackend('wasm');
    const backend = tf.backend() as BackendWasm;
    const before = backend.numDataIds();
    const original = tf.tensor(values(24, 71), [2, 3, 4]);
    const clone = tf.clone(original);
    expect(backend.numDataIds()).toBe(before + 1);
    original.dispose();
    expect(Array.from(clone.dataSync())).toEqual(Array.from(values(24, 71)));
    clone.dispose();
    expect(backend.numDataIds()).toBe(before);
    const text = tf.clone(tf.tensor(['a', 'b']));
    expect(text.dataSync()).toEqual(['a', 'b']);
    text.dispose();
  });

  it('Cast to the same dtype shares the data; other casts convert', async () => {
    await tf.setBackend('wasm');
    const backend = tf.backend() as BackendWasm;
    const before = backend.numDataIds();
    const original = tf.tensor([1.5, -2.25, 3], [3]);
    const same = tf.cast(original, 'float32');
    expect(backend.numDataIds()).toBe(before + 1);
    original.dispose();
    expect(Array.from(same.dataSync())).toEqual([1.5, -2.25, 3]);
    const integers = tf.cast(same, 'int32');
    expect(integers.dtype).toBe('int32');
    expect(Array.from(integers.dataSync())).toEqual([1, -2, 3]);
    tf.dispose([same, integers]);
    expect(backend.numDataIds()).toBe(before);
  });

  it('batch-norm, Sum and Mean gradients: the wasm overrides match cpu, run only on wasm, and unregister', async () => {
    const shape: [number, number, number, number] = [3, 4, 5, 6];
    const xData = values(3 * 4 * 5 * 6, 81);
    const weights = values(3 * 4 * 5 * 6, 82);
    const channelScale = values(6, 83).map((v) => 1 + v / 2);
    const loss = (x: tf.Tensor) => {
      const { mean, variance } = tf.moments(x, [0, 1, 2]);
      const normed = tf.batchNorm(x as tf.Tensor4D, mean, variance, tf.zeros([6]), channelScale, 1e-3);
      const reduced = tf.add(tf.sum(tf.mul(normed, tf.tensor(weights, shape)), [0, 1]), tf.mean(tf.square(x), [1, 3], true).sum());
      return tf.sum(tf.mul(reduced, tf.linspace(-1, 1, 6)));
    };
    await expectSameOnCpuAndWasm(() => tf.grad(loss)(tf.tensor(xData, shape)), 'gradient of moments, batch norm, sum, mean');
    await tf.setBackend('wasm');
    const kernelsOf = async () =>
      (await tf.profile(() => tf.tidy(() => tf.grad(loss)(tf.tensor(xData, shape))))).kernelNames;
    expect(await kernelsOf()).toContain(WASM_BATCH_NORM_GRAD);
    unregisterWasmTrainingKernels();
    try {
      expect(wasmTrainingKernelsRegistered()).toBe(false);
      expect(await kernelsOf()).not.toContain(WASM_BATCH_NORM_GRAD);
    } finally {
      registerWasmTrainingKernels();
    }
    expect(wasmTrainingKernelsRegistered()).toBe(true);
    await tf.setBackend('cpu');
    expect(await kernelsOf()).not.toContain(WASM_BATCH_NORM_GRAD);
  });

  it('gradients of a conv + batch-norm block match cpu without leaking', async () => {
    const xData = values(4 * 8 * 8 * 3, 5);
    const wData = values(3 * 3 * 3 * 6, 6).map((v) => v * 0.3);
    const block = (x: tf.Tensor, w: tf.Tensor) => {
      const y = tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same');
      const { mean, variance } = tf.moments(y, [0, 1, 2]);
      const normed = tf.batchNorm(y, mean, variance, tf.zeros([6]), tf.linspace(0.5, 1.5, 6), 1e-3);
      return tf.sum(tf.mul(tf.leakyRelu(normed, 0.2), tf.linspace(-1, 1, 6)));
    };
    const gradsOn = async (backend: string) => {
      await tf.setBackend(backend);
      return tf.tidy(() =>
        tf.grads(block)([tf.tensor4d(xData, [4, 8, 8, 3]), tf.tensor4d(wData, [3, 3, 3, 6])]).map((g) => g.dataSync()),
      );
    };
    const reference = await gradsOn('cpu');
    const candidate = await gradsOn('wasm');
    for (const [i, ref] of reference.entries()) {
      const maxRef = Math.max(1, ...Array.from(ref, Math.abs));
      const maxDiff = Math.max(...Array.from(ref, (v, j) => Math.abs(v - candidate[i][j])));
      expect(maxDiff / maxRef).toBeLessThanOrEqual(1e-4);
    }

    const backend = tf.backend() as BackendWasm;
    const tensors = tf.memory().numTensors;
    const dataIds = backend.numDataIds();
    for (let i = 0; i < 3; i++) await gradsOn('wasm');
    expect(tf.memory().numTensors).toBe(tensors);
    expect(backend.numDataIds()).toBe(dataIds);
  });
});
