import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { initWebGpu, installWebGpuOverrides, removeWebGpuOverrides } from './index';
import { maxAbsDifference, randomValues, seededRandom, webGpuForTests } from './test-support';

const webGpu = await webGpuForTests();

type Reduction = 'sum' | 'mean';
const reductions: Array<{ op: Reduction; axis: number | number[] | undefined; keepDims: boolean; shape: number[] }> = [
  { op: 'sum', axis: undefined, keepDims: false, shape: [3, 4] },
  { op: 'sum', axis: 1, keepDims: false, shape: [3, 4, 5] },
  { op: 'sum', axis: [0, 2], keepDims: true, shape: [3, 4, 5] },
  { op: 'sum', axis: -1, keepDims: false, shape: [2, 3, 4, 5] },
  { op: 'mean', axis: undefined, keepDims: false, shape: [6] },
  { op: 'mean', axis: [0, 1, 2], keepDims: false, shape: [2, 3, 4, 5] },
  { op: 'mean', axis: [0, 1, 2], keepDims: true, shape: [2, 3, 4, 5] },
  { op: 'mean', axis: [1, 3], keepDims: false, shape: [2, 3, 4, 5] },
];

/** A weighted reduction, so dy is not all ones and the broadcast is actually checked. */
async function reductionGradient(r: (typeof reductions)[number], seed: number): Promise<Float32Array> {
  const random = seededRandom(seed);
  const x = tf.tensor(randomValues(tf.util.sizeFromShape(r.shape), random), r.shape);
  const gradient = tf.grad((input: tf.Tensor) => {
    const reduced = r.op === 'sum' ? tf.sum(input, r.axis, r.keepDims) : tf.mean(input, r.axis, r.keepDims);
    const weights = tf.tensor(randomValues(reduced.size, seededRandom(seed + 1)), reduced.shape);
    return tf.sum(tf.mul(reduced, weights));
  })(x);
  return (await gradient.data()) as Float32Array;
}

/**
 * Sizes of the tensors made from CPU arrays (engine.makeTensor: what tf.ones, tf.tensor and
 * tf.scalar go through; kernel outputs do not) while computing a batch-norm-and-loss gradient.
 */
async function cpuMadeSizesDuringGradient(): Promise<number[]> {
  const x = tf.randomNormal([4, 6, 6, 8]);
  await x.data();
  const engine = tf.engine();
  const originalMakeTensor = engine.makeTensor;
  const sizes: number[] = [];
  engine.makeTensor = function (this: typeof engine, ...args: Parameters<typeof originalMakeTensor>) {
    sizes.push(tf.util.sizeFromShape(args[1] ?? []));
    return originalMakeTensor.apply(this, args);
  };
  try {
    const gradient = tf.grad((input: tf.Tensor) => {
      const { mean, variance } = tf.moments(input, [0, 1, 2], true);
      const normalized = tf.div(tf.sub(input, mean), tf.sqrt(tf.add(variance, 1e-3)));
      return tf.add(tf.mean(tf.square(normalized)), tf.sum(input));
    })(x);
    await gradient.data();
  } finally {
    engine.makeTensor = originalMakeTensor;
  }
  return sizes;
}

function describeGradientsOn(backendName: 'cpu' | 'webgpu') {
  afterEach(() => removeWebGpuOverrides());

  it.each(reductions.map((r, i) => [i, r] as const))(`case %i equals the stock gradient on ${backendName}: %o`, async (i, r) => {
    removeWebGpuOverrides();
    const stock = await reductionGradient(r, 10 + i);
    installWebGpuOverrides();
    const ours = await reductionGradient(r, 10 + i);
    expect(maxAbsDifference(ours, stock)).toBeLessThanOrEqual(1e-6);
  });

  it(`makes no activation-sized tensor on the CPU during a batch-norm + loss gradient on ${backendName}`, async () => {
    removeWebGpuOverrides();
    const stockUploads = await cpuMadeSizesDuringGradient();
    installWebGpuOverrides();
    const ourUploads = await cpuMadeSizesDuringGradient();
    // The stock Sum/Mean gradients upload ones([4,6,6,8]) = 1,152 values; ours only scalar constants.
    expect(Math.max(...stockUploads)).toBe(4 * 6 * 6 * 8);
    expect(Math.max(0, ...ourUploads)).toBeLessThanOrEqual(1);
  });
}

describe('Sum/Mean gradient overrides on the cpu backend', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });
  describeGradientsOn('cpu');
});

describe.skipIf(!webGpu.available)(`Sum/Mean gradient overrides on webgpu ${webGpu.skipReason}`, () => {
  beforeAll(async () => {
    await initWebGpu();
  });
  describeGradientsOn('webgpu');

  it('divides and broadcasts a Mean gradient over leading axes in one kernel', async () => {
    installWebGpuOverrides();
    const x = tf.ones([2, 3, 4, 5]);
    const profile = await tf.profile(() => {
      tf.grad((input: tf.Tensor) => tf.sum(tf.mean(input, [0, 1, 2])))(x).dispose();
    });
    const names = profile.kernels.map((k) => k.name);
    expect(names).toContain('FaceganBroadcastDivide');
    expect(names).not.toContain('RealDiv');
    x.dispose();
  });
});
