import * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { columnReduce, initWebGpu, planColumnReduce } from './index';
import { leadingReducedAxes, planPartialsSum } from './reduce';
import { maxAbs, maxAbsDifference, randomValues, seededRandom, valuesOn, webGpuForTests } from './test-support';

const webGpu = await webGpuForTests();

/**
 * Tolerance: float32 sums of R terms in a different order than the cpu backend: 2e-6·√R relative to
 * max(1, max|result|); measured on lavapipe: max error ≤ 2.8e-7 × that.
 */
function tolerance(rows: number, reference: Float32Array): number {
  return 2e-6 * Math.sqrt(rows) * Math.max(1, maxAbs(reference));
}

describe('leadingReducedAxes', () => {
  it('takes the leading block of axes only', () => {
    expect(leadingReducedAxes([2, 3, 4, 5], [0, 1, 2])).toBe(3);
    expect(leadingReducedAxes([2, 3, 4, 5], [2, 0, 1])).toBe(3);
    expect(leadingReducedAxes([2, 3], 0)).toBe(1);
    expect(leadingReducedAxes([2, 3, 4, 5], [0, 1, 2, 3])).toBeUndefined();
    expect(leadingReducedAxes([2, 3, 4, 5], [1, 2])).toBeUndefined();
    expect(leadingReducedAxes([2, 3, 4, 5], [3])).toBeUndefined();
    expect(leadingReducedAxes([2, 3, 4, 5], -1)).toBeUndefined();
  });

  it('plans enough splits for a large GPU, none for few rows', () => {
    const large = planColumnReduce(128 * 64 * 64, 128);
    expect(large.splits).toBeGreaterThan(100);
    expect(large.splits * large.rowsPerSplit).toBeGreaterThanOrEqual(128 * 64 * 64);
    expect(planColumnReduce(40, 7).splits).toBe(1);
    expect(planColumnReduce(1000, 3).colsPerWorkgroup).toBe(4);
    expect(planColumnReduce(1000, 300).colsPerWorkgroup).toBe(64);
  });

  it('sums many partials with many lanes a column, few with many columns a workgroup', () => {
    const many = planPartialsSum(512, 128);
    expect(256 / many.colsPerWorkgroup).toBeGreaterThanOrEqual(128);
    expect([many.splits, many.rowsPerSplit]).toEqual([1, 512]);
    expect(planPartialsSum(4, 512 * 2304).colsPerWorkgroup).toBe(64);
    expect(planPartialsSum(4096, 3).colsPerWorkgroup).toBe(1);
  });
});

describe.skipIf(!webGpu.available)(`Sum and Mean over leading axes on webgpu ${webGpu.skipReason}`, () => {
  beforeAll(async () => {
    await initWebGpu();
  });

  const random = seededRandom(31);
  const pick = (low: number, high: number) => low + Math.floor(random() * (high - low + 1));
  const cases: Array<{ shape: number[]; axis: number | number[]; keepDims: boolean; op: 'sum' | 'mean' }> = [
    { shape: [4, 5, 6, 7], axis: [0, 1, 2], keepDims: false, op: 'mean' },
    { shape: [4, 5, 6, 7], axis: [0, 1, 2], keepDims: true, op: 'sum' },
    { shape: [130, 3], axis: 0, keepDims: false, op: 'sum' },
    { shape: [3, 300], axis: [0], keepDims: true, op: 'mean' },
    { shape: [8, 16, 16, 3], axis: [0, 1, 2], keepDims: false, op: 'sum' },
    { shape: [2, 9, 9, 65], axis: [0, 1], keepDims: false, op: 'mean' },
    // Not a leading block: the stock kernel, still correct.
    { shape: [4, 5, 6], axis: [1, 2], keepDims: false, op: 'sum' },
    { shape: [4, 5, 6], axis: [0, 1, 2], keepDims: false, op: 'mean' },
    ...Array.from({ length: 8 }, () => {
      const shape = [pick(1, 9), pick(1, 17), pick(1, 17), pick(1, 70)];
      return { shape, axis: [0, 1, 2], keepDims: random() < 0.3, op: random() < 0.5 ? ('sum' as const) : ('mean' as const) };
    }),
  ];

  it.each(cases.map((c, i) => [i, c] as const))('case %i matches the cpu backend: %o', async (index, c) => {
    const values = randomValues(tf.util.sizeFromShape(c.shape), seededRandom(500 + index));
    const compute = () => {
      const x = tf.tensor(values, c.shape);
      return c.op === 'sum' ? tf.sum(x, c.axis, c.keepDims) : tf.mean(x, c.axis, c.keepDims);
    };
    const reference = await valuesOn('cpu', compute);
    let shape: number[] = [];
    const got = await valuesOn('webgpu', () => {
      const result = compute();
      shape = result.shape;
      return result;
    });
    const cpuShape = await (async () => {
      await tf.setBackend('cpu');
      const s = compute().shape;
      await tf.setBackend('webgpu');
      return s;
    })();
    expect(shape).toEqual(cpuShape);
    expect(maxAbsDifference(got, reference)).toBeLessThanOrEqual(tolerance(tf.util.sizeFromShape(c.shape), reference));
  });

  it.each([1, 2, 5, 13, 200])('gives the same result with the rows split %i ways', async (splits) => {
    const shape = [6, 7, 8, 9];
    const values = randomValues(tf.util.sizeFromShape(shape), seededRandom(77));
    const reference = await valuesOn('cpu', () => tf.mean(tf.tensor(values, shape), [0, 1, 2]));
    const got = await valuesOn('webgpu', () => {
      const info = columnReduce(tf.backend() as WebGPUBackend, tf.tensor(values, shape), 3, [9], true, splits);
      return tf.engine().makeTensorFromTensorInfo(info);
    });
    expect(maxAbsDifference(got, reference)).toBeLessThanOrEqual(tolerance(6 * 7 * 8, reference));
  });

  it('gives batch-norm moments as the cpu backend does', async () => {
    const shape = [3, 5, 5, 11];
    const values = randomValues(tf.util.sizeFromShape(shape), seededRandom(8));
    const compute = () => {
      const { mean, variance } = tf.moments(tf.tensor(values, shape), [0, 1, 2]);
      return tf.concat([mean, variance]);
    };
    const reference = await valuesOn('cpu', compute);
    const got = await valuesOn('webgpu', compute);
    expect(maxAbsDifference(got, reference)).toBeLessThanOrEqual(tolerance(75, reference));
  });
});
