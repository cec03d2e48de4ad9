import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { backpropFilterGemm, initWebGpu, planBackpropFilter, setGemmDoubleBuffer, setGemmPrefetch, setGemmTileLimit, setGemmVectorTiles } from './index';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { convOutSize, gemmTolerance, maxAbsDifference, randomValues, seededRandom, valuesOn, webGpuForTests, GEMM_MODES } from './test-support';

const webGpu = await webGpuForTests();

interface Case {
  batch: number;
  height: number;
  width: number;
  inChannels: number;
  outChannels: number;
  filterSize: number;
  stride: number;
  pad: 'same' | 'valid';
}

const fixedCases: Case[] = [
  { batch: 2, height: 8, width: 8, inChannels: 3, outChannels: 4, filterSize: 3, stride: 1, pad: 'same' },
  { batch: 2, height: 9, width: 7, inChannels: 5, outChannels: 6, filterSize: 3, stride: 2, pad: 'same' },
  { batch: 1, height: 11, width: 13, inChannels: 1, outChannels: 1, filterSize: 3, stride: 2, pad: 'valid' },
  { batch: 3, height: 7, width: 5, inChannels: 40, outChannels: 33, filterSize: 3, stride: 1, pad: 'valid' },
  { batch: 2, height: 6, width: 6, inChannels: 17, outChannels: 40, filterSize: 1, stride: 1, pad: 'same' },
  { batch: 1, height: 10, width: 9, inChannels: 7, outChannels: 3, filterSize: 5, stride: 2, pad: 'same' },
  // Large K, tiny M·N: the automatic plan splits K (checked below).
  { batch: 4, height: 32, width: 32, inChannels: 3, outChannels: 4, filterSize: 3, stride: 2, pad: 'same' },
];

function randomCases(count: number, seed: number): Case[] {
  const random = seededRandom(seed);
  const pick = (low: number, high: number) => low + Math.floor(random() * (high - low + 1));
  return Array.from({ length: count }, () => ({
    batch: pick(1, 3),
    height: pick(3, 12),
    width: pick(3, 12),
    inChannels: pick(1, 40),
    outChannels: pick(1, 40),
    filterSize: random() < 0.8 ? 3 : 1,
    stride: pick(1, 2),
    pad: random() < 0.5 ? 'same' : 'valid',
  }));
}

function runBackpropFilter(x: tf.Tensor4D, dy: tf.Tensor4D, c: Case): tf.Tensor {
  const attrs = {
    strides: [c.stride, c.stride],
    pad: c.pad,
    dataFormat: 'NHWC',
    dimRoundingMode: undefined,
    filterShape: [c.filterSize, c.filterSize, c.inChannels, c.outChannels],
  };
  return tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
}

function caseTensors(c: Case, seed: number) {
  const random = seededRandom(seed);
  const outSize = (size: number) => convOutSize(size, c.filterSize, c.stride, c.pad);
  const xShape = [c.batch, c.height, c.width, c.inChannels] as [number, number, number, number];
  const dyShape = [c.batch, outSize(c.height), outSize(c.width), c.outChannels] as [number, number, number, number];
  return {
    xShape,
    dyShape,
    xValues: randomValues(tf.util.sizeFromShape(xShape), random),
    dyValues: randomValues(tf.util.sizeFromShape(dyShape), random),
    dimK: dyShape[0] * dyShape[1] * dyShape[2],
  };
}

describe('planBackpropFilter', () => {
  // with 64×64 tiles (the limit 4) unless a test says otherwise; 8 is the default
  beforeEach(() => setGemmTileLimit(4));
  afterAll(() => setGemmTileLimit(8));

  it('splits K when the output is small and K is large', () => {
    const plan = planBackpropFilter(27, 32, 128 * 32 * 32);
    expect(plan.splits).toBeGreaterThan(1);
    expect(plan.kPerSplit % 16).toBe(0);
    expect(plan.kPerSplit * plan.splits).toBeGreaterThanOrEqual(128 * 32 * 32);
    expect(plan.kPerSplit * (plan.splits - 1)).toBeLessThan(128 * 32 * 32);
  });

  it('keeps one pass when the output alone fills the GPU', () => {
    expect(planBackpropFilter(2304, 512, 128 * 81).splits).toBeLessThanOrEqual(4);
    expect(planBackpropFilter(20, 20, 64).splits).toBe(1);
  });

  it('picks tiles no larger than the problem needs', () => {
    expect(planBackpropFilter(27, 3, 1000)).toMatchObject({ rowsPerThread: 2, colsPerThread: 1 });
    expect(planBackpropFilter(1152, 128, 1000)).toMatchObject({ rowsPerThread: 4, colsPerThread: 4 });
    setGemmTileLimit(8);
    expect(planBackpropFilter(27, 3, 1000)).toMatchObject({ rowsPerThread: 2, colsPerThread: 1 });
    expect(planBackpropFilter(1152, 128, 1000)).toMatchObject({ rowsPerThread: 8, colsPerThread: 8 });
    // 128×128 tiles leave 72 workgroups for the 2304×512 output: split-K fills the grid again
    expect(planBackpropFilter(2304, 512, 128 * 81).splits).toBeGreaterThan(4);
  });
});

describe.skipIf(!webGpu.available).each(GEMM_MODES)(`Conv2DBackpropFilter implicit GEMM on webgpu, $name ${webGpu.skipReason}`, ({ vector, prefetch, double }) => {
  beforeAll(async () => {
    await initWebGpu();
    setGemmVectorTiles(vector);
    setGemmPrefetch(prefetch);
    setGemmDoubleBuffer(double);
  });
  afterAll(() => {
    setGemmVectorTiles(true);
    setGemmPrefetch(false);
    setGemmDoubleBuffer(false);
  });

  // the prefetch modes (a different loop, not different index maths) on the fixed cases only: shorter on lavapipe
  const cases = prefetch ? fixedCases : [...fixedCases, ...randomCases(12, 7)];
  it.each(cases.map((c, i) => [i, c] as const))('case %i matches the cpu backend: %o', async (index, c) => {
    const data = caseTensors(c, 1000 + index);
    const compute = () => runBackpropFilter(tf.tensor4d(data.xValues, data.xShape), tf.tensor4d(data.dyValues, data.dyShape), c);
    const reference = await valuesOn('cpu', compute);
    const got = await valuesOn('webgpu', compute);
    expect(maxAbsDifference(got, reference)).toBeLessThanOrEqual(gemmTolerance(data.dimK, reference));
  });

  it.each([1, 2, 3, 7])('gives the same result with K split %i ways', async (splits) => {
    const c = fixedCases[1];
    const data = caseTensors(c, 42);
    const reference = await valuesOn('cpu', () =>
      runBackpropFilter(tf.tensor4d(data.xValues, data.xShape), tf.tensor4d(data.dyValues, data.dyShape), c),
    );
    const got = await valuesOn('webgpu', () => {
      const info = backpropFilterGemm(tf.backend() as WebGPUBackend, {
        x: tf.tensor4d(data.xValues, data.xShape),
        dy: tf.tensor4d(data.dyValues, data.dyShape),
        filterShape: [c.filterSize, c.filterSize, c.inChannels, c.outChannels],
        strides: c.stride,
        pad: c.pad,
        splits,
      });
      return tf.engine().makeTensorFromTensorInfo(info);
    });
    expect(maxAbsDifference(got, reference)).toBeLessThanOrEqual(gemmTolerance(data.dimK, reference));
  });

  it('is what tf.grad of conv2d uses for the filter', async () => {
    const c = fixedCases[0];
    const data = caseTensors(c, 5);
    const filterValues = randomValues(3 * 3 * c.inChannels * c.outChannels, seededRandom(6));
    const gradient = () => {
      const x = tf.tensor4d(data.xValues, data.xShape);
      const filter = tf.tensor4d(filterValues, [3, 3, c.inChannels, c.outChannels]);
      return tf.grad((f: tf.Tensor) => tf.sum(tf.square(tf.conv2d(x, f as tf.Tensor4D, 1, 'same'))))(filter);
    };
    const reference = await valuesOn('cpu', gradient);
    const got = await valuesOn('webgpu', gradient);
    expect(maxAbsDifference(got, reference)).toBeLessThanOrEqual(gemmTolerance(data.dimK, reference) * 10);
  });
});
