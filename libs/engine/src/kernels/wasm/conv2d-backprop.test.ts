import { seededRandom } from '@facegan/random';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { chooseFilterGradRoles, createConv2DBackpropFilterKernel, filterGradChunkImages, type FilterGradRoles } from './conv2d-backprop-filter';
import { planFilterGradGrid } from './conv-geometry';
import { registerWasmTrainingKernels, unregisterWasmTrainingKernels, wasmTrainingKernelsRegistered } from './index';

type Pad = 'same' | 'valid' | [[0, 0], [number, number], [number, number], [0, 0]];

interface Case {
  batch: number;
  height: number;
  width: number;
  inC: number;
  outC: number;
  kh: number;
  kw: number;
  stride: number;
  pad: Pad;
}

/** Deterministic uniform(-1, 1) values, so a failure reproduces. */
function randomValues(size: number, seed: number): Float32Array {
  const random = seededRandom(seed);
  return Float32Array.from({ length: size }, () => random() * 2 - 1);
}

function randomCases(count: number, seed: number): Case[] {
  const perCase = 9;
  const r = randomValues(count * perCase, seed).map((v) => (v + 1) / 2);
  const pick = (u: number, lo: number, hi: number) => lo + Math.min(hi - lo, Math.floor(u * (hi - lo + 1)));
  return Array.from({ length: count }, (_, i) => {
    const u = r.subarray(i * perCase, (i + 1) * perCase);
    const k = [1, 2, 3, 3, 3, 4, 5][pick(u[5], 0, 6)];
    return {
      batch: pick(u[0], 1, 4),
      height: pick(u[1], 5, 17),
      width: pick(u[2], 5, 17),
      inC: pick(u[3], 1, 8),
      outC: pick(u[4], 1, 8),
      kh: k,
      kw: u[7] < 0.75 ? k : pick(u[8], 1, 5),
      stride: pick(u[6], 1, 2),
      pad: u[8] < 0.5 ? 'same' : 'valid',
    };
  });
}

function outSize(n: number, k: number, s: number, pad: Pad, axis: 1 | 2): number {
  if (pad === 'same') return Math.ceil(n / s);
  if (pad === 'valid') return Math.ceil((n - k + 1) / s);
  return Math.floor((n + pad[axis][0] + pad[axis][1] - k) / s) + 1;
}

function describeCase(c: Case): string {
  const pad = typeof c.pad === 'string' ? c.pad : JSON.stringify(c.pad);
  return `x[${c.batch},${c.height},${c.width},${c.inC}] w[${c.kh},${c.kw},${c.inC},${c.outC}] s${c.stride} ${pad}`;
}

/** Runs one gradient kernel on `backend` from plain arrays, returns its values. */
async function runGradKernel(
  backend: 'cpu' | 'wasm',
  kernel: 'Conv2DBackpropInput' | 'Conv2DBackpropFilter',
  c: Case,
  seed: number,
): Promise<{ values: Float32Array; shape: number[] }> {
  await tf.setBackend(backend);
  const oh = outSize(c.height, c.kh, c.stride, c.pad, 1);
  const ow = outSize(c.width, c.kw, c.stride, c.pad, 2);
  const xShape: [number, number, number, number] = [c.batch, c.height, c.width, c.inC];
  const wShape: [number, number, number, number] = [c.kh, c.kw, c.inC, c.outC];
  const dyShape = [c.batch, oh, ow, c.outC];
  return tf.tidy(() => {
    const dy = tf.tensor(randomValues(dyShape.reduce((a, b) => a * b), seed), dyShape);
    const attrs = { strides: [c.stride, c.stride], pad: c.pad, dataFormat: 'NHWC' };
    const out =
      kernel === 'Conv2DBackpropInput'
        ? (tf.engine().runKernel(
            kernel,
            { dy, filter: tf.tensor(randomValues(wShape.reduce((a, b) => a * b), seed + 1), wShape) },
            { ...attrs, inputShape: xShape },
          ) as tf.Tensor)
        : (tf.engine().runKernel(
            kernel,
            { x: tf.tensor(randomValues(xShape.reduce((a, b) => a * b), seed + 2), xShape), dy },
            { ...attrs, filterShape: wShape },
          ) as tf.Tensor);
    return { values: out.dataSync() as Float32Array, shape: out.shape };
  });
}

/** max |candidate - reference| / max(1, max |reference|). */
function relativeError(reference: Float32Array, candidate: Float32Array): number {
  let maxRef = 1;
  let maxDiff = 0;
  for (let i = 0; i < reference.length; i++) {
    maxRef = Math.max(maxRef, Math.abs(reference[i]));
    maxDiff = Math.max(maxDiff, Math.abs(reference[i] - candidate[i]));
  }
  return maxDiff / maxRef;
}

const TOLERANCE = 1e-4;

const fixedCases: Case[] = [
  // The seed DCGAN's own geometries (3x3, 'same', stride 1 and 2; even and odd sizes).
  { batch: 2, height: 16, width: 16, inC: 8, outC: 4, kh: 3, kw: 3, stride: 1, pad: 'same' },
  { batch: 2, height: 16, width: 16, inC: 3, outC: 8, kh: 3, kw: 3, stride: 2, pad: 'same' },
  { batch: 3, height: 9, width: 9, inC: 4, outC: 6, kh: 3, kw: 3, stride: 2, pad: 'same' },
  { batch: 1, height: 17, width: 6, inC: 5, outC: 7, kh: 3, kw: 3, stride: 2, pad: 'valid' },
  { batch: 4, height: 5, width: 5, inC: 1, outC: 1, kh: 5, kw: 5, stride: 1, pad: 'valid' },
  // Explicit pads, including one larger than the filter (dx takes the stock path there).
  { batch: 2, height: 8, width: 7, inC: 3, outC: 2, kh: 3, kw: 3, stride: 2, pad: [[0, 0], [1, 2], [0, 1], [0, 0]] },
  { batch: 1, height: 6, width: 6, inC: 2, outC: 3, kh: 2, kw: 2, stride: 1, pad: [[0, 0], [3, 0], [0, 3], [0, 0]] },
];
const cases = [...fixedCases, ...randomCases(40, 20240607)];

/** Stride-1 geometries with more channels than the random cases: both operand arrangements, narrow outputs. */
const wideStrideOneCases: Case[] = [
  { batch: 3, height: 8, width: 8, inC: 16, outC: 12, kh: 3, kw: 3, stride: 1, pad: 'same' },
  { batch: 2, height: 12, width: 10, inC: 12, outC: 3, kh: 3, kw: 3, stride: 1, pad: 'same' },
  { batch: 2, height: 5, width: 5, inC: 9, outC: 20, kh: 3, kw: 3, stride: 1, pad: 'same' },
  { batch: 2, height: 7, width: 9, inC: 10, outC: 2, kh: 3, kw: 2, stride: 1, pad: 'valid' },
  { batch: 1, height: 6, width: 6, inC: 9, outC: 5, kh: 2, kw: 2, stride: 1, pad: [[0, 0], [1, 0], [0, 1], [0, 0]] },
  // A packed operand of 256 channels (~300 KB an image): summed over chunks of 3 images (3 + 2) in
  // the arrangement that packs it (the cpu reference is too slow for the seed's sizes)
  { batch: 5, height: 16, width: 16, inC: 2, outC: 256, kh: 3, kw: 3, stride: 1, pad: 'same' },
  { batch: 5, height: 16, width: 16, inC: 256, outC: 2, kh: 2, kw: 2, stride: 1, pad: [[0, 0], [1, 1], [1, 1], [0, 0]] },
];

describe('wasm Conv2D gradient kernels', () => {
  beforeAll(async () => {
    await tf.setBackend('wasm');
    registerWasmTrainingKernels();
  });

  it('registration is idempotent and reversible', () => {
    registerWasmTrainingKernels();
    registerWasmTrainingKernels();
    expect(wasmTrainingKernelsRegistered()).toBe(true);
    unregisterWasmTrainingKernels();
    expect(wasmTrainingKernelsRegistered()).toBe(false);
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeUndefined();
    expect(tf.getKernel('Conv2DBackpropInput', 'wasm')).toBeDefined();
    registerWasmTrainingKernels();
    expect(wasmTrainingKernelsRegistered()).toBe(true);
  });

  for (const kernel of ['Conv2DBackpropInput', 'Conv2DBackpropFilter'] as const) {
    it(`${kernel} matches the cpu backend on ${cases.length} geometries (tolerance ${TOLERANCE})`, async () => {
      for (const [i, c] of cases.entries()) {
        const reference = await runGradKernel('cpu', kernel, c, 1000 + i);
        const candidate = await runGradKernel('wasm', kernel, c, 1000 + i);
        expect(candidate.shape, describeCase(c)).toEqual(reference.shape);
        expect(relativeError(reference.values, candidate.values), describeCase(c)).toBeLessThanOrEqual(TOLERANCE);
      }
    });
  }

  it('packs the narrower operand of the stride-1 dW, unless it has under 8 channels', () => {
    expect(chooseFilterGradRoles(128, 9 * 128)).toBe('dy'); // the 96 px ×3 sub-pixel layer: x packed
    expect(chooseFilterGradRoles(256, 64)).toBe('x'); // dy packed
    expect(chooseFilterGradRoles(128, 128)).toBe('x');
    expect(chooseFilterGradRoles(128, 3)).toBe('dy'); // the output layer: x packed, the 3 channels on the left
    expect(chooseFilterGradRoles(3, 32)).toBe('x');
  });

  it("stride-1 Conv2DBackpropFilter agrees with cpu with either operand shifted ('x' and 'dy' roles)", async () => {
    const strideOne = [...wideStrideOneCases, ...cases.filter((c) => c.stride === 1)];
    for (const roles of ['x', 'dy'] as FilterGradRoles[]) {
      const stock = tf.getKernel('Conv2DBackpropFilter', 'wasm');
      tf.unregisterKernel('Conv2DBackpropFilter', 'wasm');
      tf.registerKernel(createConv2DBackpropFilterKernel({ roles }));
      try {
        for (const [i, c] of strideOne.entries()) {
          const reference = await runGradKernel('cpu', 'Conv2DBackpropFilter', c, 2000 + i);
          const candidate = await runGradKernel('wasm', 'Conv2DBackpropFilter', c, 2000 + i);
          const label = `${roles}: ${describeCase(c)}`;
          expect(candidate.shape, label).toEqual(reference.shape);
          expect(relativeError(reference.values, candidate.values), label).toBeLessThanOrEqual(TOLERANCE);
        }
      } finally {
        tf.unregisterKernel('Conv2DBackpropFilter', 'wasm');
        if (stock) tf.registerKernel(stock);
      }
    }
  });

  it('sums the stride-1 filter gradient over chunks of images whose packed operand stays within 1 MB', () => {
    const grid = (imageLength: number, margin: number) => ({ imageLength, margin }) as Parameters<typeof filterGradChunkImages>[1];
    // 33 x 33 grid positions of 64 channels: 279 KB an image
    expect(filterGradChunkImages(32, grid(33 * 33, 34), 64)).toBe(3);
    expect(filterGradChunkImages(2, grid(33 * 33, 34), 64)).toBe(2);
    expect(filterGradChunkImages(32, grid(6 * 6, 7), 16)).toBe(32);
    expect(filterGradChunkImages(32, grid(1024 * 1024, 1025), 3)).toBe(1);
  });

  it('plans the filter-gradient grid: shared zero rows and columns, tap offsets, margins', () => {
    const same = planFilterGradGrid({
      batch: 2, height: 4, width: 5, outHeight: 4, outWidth: 5, filterHeight: 3, filterWidth: 3,
      padTop: 1, padBottom: 1, padLeft: 1, padRight: 1,
    });
    expect(same).toEqual({
      gridHeight: 5,
      gridWidth: 6,
      imageLength: 30,
      margin: 7,
      length: 2 * 7 + 2 * 30,
      tapOffsets: [-7, -6, -5, -1, 0, 1, 5, 6, 7],
    });
    const valid = planFilterGradGrid({
      batch: 1, height: 5, width: 5, outHeight: 1, outWidth: 1, filterHeight: 5, filterWidth: 5,
      padTop: 0, padBottom: 0, padLeft: 0, padRight: 0,
    });
    expect(valid?.gridWidth).toBe(5);
    expect(valid?.margin).toBe(24);
    // pads beyond what the shared zero rows can hold: left to the dilated-convolution path
    expect(
      planFilterGradGrid({
        batch: 1, height: 4, width: 4, outHeight: 9, outWidth: 4, filterHeight: 2, filterWidth: 1,
        padTop: 3, padBottom: 3, padLeft: 0, padRight: 0,
      }),
    ).toBeNull();
  });

  it('rejects NCHW clearly', async () => {
    await tf.setBackend('wasm');
    const dy = tf.zeros([1, 2, 4, 4]);
    expect(() =>
      tf.engine().runKernel(
        'Conv2DBackpropFilter',
        { x: tf.zeros([1, 2, 4, 4]), dy },
        { strides: 1, pad: 'same', dataFormat: 'NCHW', filterShape: [3, 3, 2, 2] },
      ),
    ).toThrow(/NHWC/);
  });

  it('tf.grads of a strided conv2d agrees with cpu end to end', async () => {
    const xValues = randomValues(2 * 12 * 12 * 3, 7);
    const wValues = randomValues(3 * 3 * 3 * 5, 8);
    const gradsOn = async (backend: string) => {
      await tf.setBackend(backend);
      return tf.tidy(() => {
        const f = (x: tf.Tensor, w: tf.Tensor) =>
          tf.sum(tf.square(tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 2, 'same')));
        const [dx, dw] = tf.grads(f)([tf.tensor4d(xValues, [2, 12, 12, 3]), tf.tensor4d(wValues, [3, 3, 3, 5])]);
        return [dx.dataSync() as Float32Array, dw.dataSync() as Float32Array];
      });
    };
    const [dxRef, dwRef] = await gradsOn('cpu');
    const [dx, dw] = await gradsOn('wasm');
    expect(relativeError(dxRef, dx)).toBeLessThanOrEqual(TOLERANCE);
    expect(relativeError(dwRef, dw)).toBeLessThanOrEqual(TOLERANCE);
  });

  it('leaks neither tensors nor wasm data across repeated gradient calls', async () => {
    await tf.setBackend('wasm');
    const backend = tf.backend() as BackendWasm;
    const x = tf.tensor4d(randomValues(2 * 9 * 9 * 4, 3), [2, 9, 9, 4]);
    const w = tf.tensor4d(randomValues(3 * 3 * 4 * 6, 4), [3, 3, 4, 6]);
    const step = (stride: number, pad: 'same' | 'valid') => {
      const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, pad)),
      )([x, w]);
      dx.dataSync();
      dw.dataSync();
      tf.dispose([dx, dw]);
    };
    const geometries = [
      [1, 'same'],
      [2, 'same'],
      [2, 'valid'],
      [1, 'valid'],
    ] as const;
    for (const [s, p] of geometries) step(s, p); // warm-up: lazily created state, if any
    const tensors = tf.memory().numTensors;
    const dataIds = backend.numDataIds();
    for (let i = 0; i < 5; i++) for (const [s, p] of geometries) step(s, p);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(backend.numDataIds()).toBe(dataIds);
    tf.dispose([x, w]);
  });
});
