import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initWebGpu, randomNormalOnCpu, randomNormalOnGpu } from './index';
import { maxAbsDifference, tensorsMadeOnCpu, valuesOn, webGpuForTests } from './test-support';

const webGpu = await webGpuForTests();

describe('randomNormalOnCpu (reference of the kernel)', () => {
  it('has mean 0 and variance 1 within 5 standard errors', () => {
    const size = 200_000;
    const values = randomNormalOnCpu(size, 12);
    const mean = values.reduce((sum, v) => sum + v, 0) / size;
    const variance = values.reduce((sum, v) => sum + (v - mean) ** 2, 0) / size;
    expect(Math.abs(mean)).toBeLessThan(5 / Math.sqrt(size));
    // the variance of a sample variance of normals is 2/n
    expect(Math.abs(variance - 1)).toBeLessThan(5 * Math.sqrt(2 / size));
    expect(values.filter((v) => Math.abs(v) > 1.96).length / size).toBeCloseTo(0.05, 2);
  });

  it('repeats for a seed', () => {
    expect(randomNormalOnCpu(10, 3)).toEqual(randomNormalOnCpu(10, 3));
    expect(randomNormalOnCpu(10, 3)).not.toEqual(randomNormalOnCpu(10, 4));
  });
});

describe.skipIf(!webGpu.available)(`randomNormalOnGpu on webgpu ${webGpu.skipReason}`, () => {
  beforeAll(async () => {
    await initWebGpu();
  });

  it('draws the reference numbers (to float32 rounding of log, sin, cos)', async () => {
    const size = 1001;
    const got = await valuesOn('webgpu', () => randomNormalOnGpu([7, 11, 13], 2 ** 35 + 5));
    expect(got.length).toBe(size);
    expect(maxAbsDifference(got, randomNormalOnCpu(size, 2 ** 35 + 5))).toBeLessThan(1e-4);
  });

  it('makes no tensor on the CPU', async () => {
    const made = await tensorsMadeOnCpu(() => randomNormalOnGpu([128, 100], 1).data());
    expect(made).toBe(0);
  });
});

describe('randomNormalOnGpu without the kernel', () => {
  it('gives the reference numbers on the cpu backend', async () => {
    await tf.setBackend('cpu');
    expect(await randomNormalOnGpu([3, 5], 8).data()).toEqual(randomNormalOnCpu(15, 8));
  });
});
