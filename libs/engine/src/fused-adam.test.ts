import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { ADAM_WEIGHT_KERNEL, FusedAdamOptimizer, fusedAdam } from './fused-adam';
import { registerWasmTrainingKernels } from './kernels/wasm/index';
import { initWebGpu } from './webgpu/index';
import { maxAbs, maxAbsDifference, randomValues, seededRandom, webGpuForTests } from './webgpu/test-support';

const webGpu = await webGpuForTests();
await tf.setBackend('cpu');

interface Trajectory {
  weights: Float32Array[];
  moments: Float32Array[];
  iterations: number;
}

const SHAPES = [[3, 3, 5, 7], [7], [130], [1]];

/**
 * Trains a few random variables for `steps` steps of Adam on a quadratic loss with random targets
 * (so gradients differ per step and per element), on the given backend, and returns the weights and
 * the optimizer's moments.
 */
async function train(backendName: string, make: () => tf.AdamOptimizer, steps: number, seed: number): Promise<Trajectory> {
  const previous = tf.getBackend();
  await tf.setBackend(backendName);
  try {
    const random = seededRandom(seed);
    const variables = SHAPES.map((shape, i) => tf.variable(tf.tensor(randomValues(tf.util.sizeFromShape(shape), random), shape), true, `adam_test_${seed}_${backendName}_${i}`));
    const targets = Array.from({ length: steps }, () => SHAPES.map((shape) => randomValues(tf.util.sizeFromShape(shape), random)));
    const optimizer = make();
    for (let step = 0; step < steps; step++) {
      optimizer.minimize(
        () =>
          tf.addN(
            variables.map((v, i) => tf.sum(tf.mul(tf.square(tf.sub(v, tf.tensor(targets[step][i], SHAPES[i]))), i + 1))),
          ) as tf.Scalar,
        false,
        variables,
      );
    }
    const weights = await Promise.all(variables.map(async (v) => (await v.data()) as Float32Array));
    const named = await optimizer.getWeights();
    const moments = await Promise.all(named.slice(1).map(async (w) => (await w.tensor.data()) as Float32Array));
    const result = { weights, moments, iterations: optimizer.iterations };
    optimizer.dispose();
    variables.forEach((v) => v.dispose());
    return result;
  } finally {
    await tf.setBackend(previous);
  }
}

/**
 * Tolerance: a handful of float32 operations per element and step, compared with the cpu backend's
 * tf.train.adam (whose bias corrections are float32 on the device, ours float64 on the CPU): 2e-6 relative
 * to the largest |value| per step taken; measured on lavapipe: max error ≤ 7.2e-7 × max|value|, on wasm
 * (JavaScript loops in float64, rounded when stored) ≤ 1.2e-7 × max|value| per step (2026-11-27).
 */
function expectClose(got: Float32Array[], reference: Float32Array[], steps: number): void {
  expect(got.length).toBe(reference.length);
  got.forEach((values, i) => {
    expect(maxAbsDifference(values, reference[i])).toBeLessThanOrEqual(2e-6 * steps * Math.max(1, maxAbs(reference[i])));
  });
}

describe('fusedAdam', () => {
  it('is an AdamOptimizer with the same config and serialization name', () => {
    const optimizer = fusedAdam(1.5e-4, 0.5);
    expect(optimizer).toBeInstanceOf(tf.AdamOptimizer);
    expect(optimizer.getConfig()).toMatchObject({ learningRate: 1.5e-4, beta1: 0.5, beta2: 0.999 });
    expect(FusedAdamOptimizer.className).toBe('Adam');
    optimizer.dispose();
  });

  it('is tf.train.adam on the cpu backend', async () => {
    const reference = await train('cpu', () => tf.train.adam(0.01, 0.5), 4, 3);
    const got = await train('cpu', () => fusedAdam(0.01, 0.5), 4, 3);
    expectClose(got.weights, reference.weights, 1);
    expectClose(got.moments, reference.moments, 1);
  });
});

/** The fused path's checks on one backend (set up by `init`). */
function fusedAdamOn(backendName: string, init: () => Promise<unknown>): void {
  beforeAll(async () => {
    await init();
  });

  it.each([
    [0.01, 0.5, 0.999, 6],
    [1.5e-4, 0.5, 0.999, 3],
    [0.05, 0.9, 0.99, 5],
  ])('lr %f β1 %f β2 %f: %i steps match tf.train.adam on the cpu backend', async (lr, beta1, beta2, steps) => {
    const seed = Math.round(lr * 1e5) + steps;
    const reference = await train('cpu', () => tf.train.adam(lr, beta1, beta2), steps, seed);
    const got = await train(backendName, () => fusedAdam(lr, beta1, beta2), steps, seed);
    expect(got.iterations).toBe(steps);
    expectClose(got.weights, reference.weights, steps);
    expectClose(got.moments, reference.moments, steps);
  });

  it('runs three kernels per variable', async () => {
    await tf.setBackend(backendName);
    const variable = tf.variable(tf.ones([4, 4]));
    const optimizer = fusedAdam(0.1);
    const gradient = tf.fill([4, 4], 0.5);
    optimizer.applyGradients([{ name: variable.name, tensor: gradient }]); // creates the moments
    const profile = await tf.profile(() => {
      optimizer.applyGradients([{ name: variable.name, tensor: gradient }]);
    });
    expect(profile.kernels.map((k) => k.name)).toEqual(['FaceganAdamMoment', 'FaceganAdamMoment', 'FaceganAdamWeight']);
    optimizer.dispose();
    variable.dispose();
    gradient.dispose();
  });

  it('hands over to the stock update mid-run (the bias corrections carry over)', async () => {
    await tf.setBackend(backendName);
    const gradients = [[-0.2, 0.1, -0.5], [0.1, 0.1, 0.3], [0.4, -0.1, 0.2], [0.3, 0.2, -0.1]];
    const run = (optimizer: tf.Optimizer, stockFrom: number) => {
      const variable = tf.variable(tf.tensor([1, 2, 3]));
      gradients.forEach((g, step) => {
        const saved = step >= stockFrom ? tf.getKernel(ADAM_WEIGHT_KERNEL, backendName) : undefined;
        if (saved) tf.unregisterKernel(ADAM_WEIGHT_KERNEL, backendName);
        try {
          tf.tidy(() => optimizer.applyGradients([{ name: variable.name, tensor: tf.tensor(g) }]));
        } finally {
          if (saved) tf.registerKernel(saved);
        }
      });
      return variable;
    };
    const reference = run(tf.train.adam(0.02, 0.5), 0);
    const got = run(fusedAdam(0.02, 0.5), 2);
    expect(maxAbsDifference((await got.data()) as Float32Array, (await reference.data()) as Float32Array)).toBeLessThanOrEqual(1e-6);
  });
}

describe('fused Adam on wasm', () => {
  fusedAdamOn('wasm', async () => {
    registerWasmTrainingKernels();
    await tf.setBackend('wasm');
  });
});

describe.skipIf(!webGpu.available)(`fused Adam on webgpu ${webGpu.skipReason}`, () => {
  fusedAdamOn('webgpu', initWebGpu);
});
