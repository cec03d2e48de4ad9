import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { registerCpuKernelFixes } from './cpu-kernels';
import { seededRandom } from '@facegan/random';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const randomTensor = (shape: number[], seed: number) => {
  const random = seededRandom(seed);
  return tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b) }, () => random() * 2 - 1), shape);
};

/** d/dx of sum(resize(x) · weights): the gradient the generator's UpSampling2D gets. */
function resizeGradient(x: tf.Tensor4D, size: [number, number], weights: tf.Tensor, alignCorners = false, halfPixelCenters = false) {
  return tf.tidy(() =>
    Array.from(
      tf
        .grad((input: tf.Tensor) =>
          tf.sum(tf.mul(tf.image.resizeNearestNeighbor(input as tf.Tensor4D, size, alignCorners, halfPixelCenters), weights)),
        )(x)
        .dataSync(),
    ),
  );
}

describe('registerCpuKernelFixes: ResizeNearestNeighborGrad on cpu', () => {
  it('is wrong in stock tfjs 4.22 for batch > 1, and right once fixed (2×2 and 3×3 up-scaling, batch 3)', () => {
    const x = randomTensor([3, 2, 3, 2], 1) as tf.Tensor4D;
    const cases = [2, 3].map((factor) => {
      const size: [number, number] = [2 * factor, 3 * factor];
      const weights = randomTensor([3, ...size, 2], 2 + factor);
      // every input pixel collects the weights of its factor × factor block of output pixels
      const w = weights.arraySync() as number[][][][];
      const expected: number[] = [];
      for (let b = 0; b < 3; b++)
        for (let r = 0; r < 2; r++)
          for (let c = 0; c < 3; c++)
            for (let d = 0; d < 2; d++) {
              let sum = 0;
              for (let i = 0; i < factor; i++) for (let j = 0; j < factor; j++) sum += w[b][r * factor + i][c * factor + j][d];
              expected.push(sum);
            }
      return { size, weights, expected };
    });

    for (const { size, weights, expected } of cases) {
      const stock = resizeGradient(x, size, weights);
      // the first image is right, the others are not
      stock.slice(0, 12).forEach((value, i) => expect(value).toBeCloseTo(expected[i], 5));
      expect(Math.max(...stock.map((value, i) => Math.abs(value - expected[i])))).toBeGreaterThan(0.1);
    }
    registerCpuKernelFixes();
    for (const { size, weights, expected } of cases) {
      resizeGradient(x, size, weights).forEach((value, i) => expect(value).toBeCloseTo(expected[i], 5));
      weights.dispose();
    }
    x.dispose();
  });

  it('is the adjoint of the forward kernel for every corner mode and non-integer sizes: <resize(x), y> = <x, grad(y)>', () => {
    registerCpuKernelFixes();
    registerCpuKernelFixes(); // idempotent
    const x = randomTensor([2, 3, 5, 2], 7) as tf.Tensor4D;
    for (const [alignCorners, halfPixelCenters] of [
      [false, false],
      [true, false],
      [false, true],
    ]) {
      for (const size of [
        [7, 4],
        [6, 10],
      ] as Array<[number, number]>) {
        const y = randomTensor([2, ...size, 2], size[0] * 13 + size[1]);
        const forward = tf.tidy(() => tf.sum(tf.mul(tf.image.resizeNearestNeighbor(x, size, alignCorners, halfPixelCenters), y)).dataSync()[0]);
        const gradient = resizeGradient(x, size, y, alignCorners, halfPixelCenters);
        const xValues = x.dataSync();
        const adjoint = gradient.reduce((sum, g, i) => sum + g * xValues[i], 0);
        expect(adjoint).toBeCloseTo(forward, 4);
        y.dispose();
      }
    }
    x.dispose();
  });
});
