import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { conv2dSame } from './conv';

afterAll(async () => {
  await tf.setBackend('wasm');
});

async function gradients(backend: string, useOurs: boolean, shape: [number, number, number, number], filterShape: [number, number, number, number], stride: number) {
  await tf.setBackend(backend);
  return tf.tidy(() => {
    const x = tf.randomNormal(shape, 0, 1, 'float32', 1) as tf.Tensor4D;
    const w = tf.randomNormal(filterShape, 0, 1, 'float32', 2) as tf.Tensor4D;
    const target = tf.randomNormal([shape[0], Math.ceil(shape[1] / stride), Math.ceil(shape[2] / stride), filterShape[3]], 0, 1, 'float32', 3);
    const loss = (a: tf.Tensor, b: tf.Tensor) => {
      const y = useOurs ? conv2dSame(a as tf.Tensor4D, b as tf.Tensor4D, stride) : tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, 'same');
      return y.sub(target).square().sum();
    };
    const [dx, dw] = tf.grads(loss)([x, w]);
    return { value: loss(x, w).arraySync() as number, dx: dx.arraySync(), dw: dw.arraySync() };
  });
}

describe('conv2dSame', () => {
  // tfjs's own conv2d gradients on the cpu backend are the reference
  for (const [name, shape, filterShape, stride] of [
    ['3×3, stride 2, even size', [2, 8, 8, 3], [3, 3, 3, 4], 2],
    ['3×3, stride 2, odd size', [2, 7, 9, 2], [3, 3, 2, 3], 2],
    ['5×5, stride 1', [1, 6, 6, 2], [5, 5, 2, 2], 1],
    ['4×4, stride 2', [2, 8, 8, 1], [4, 4, 1, 2], 2],
  ] as const) {
    it(`matches tfjs's conv2d gradients: ${name}`, async () => {
      const expected = await gradients('cpu', false, [...shape], [...filterShape], stride);
      const ours = await gradients('cpu', true, [...shape], [...filterShape], stride);
      expect(ours.value).toBeCloseTo(expected.value, 2);
      expect((ours.dx as number[][][][]).flat(3)).toEqual((expected.dx as number[][][][]).flat(3).map((v) => expect.closeTo(v, 3)));
      expect((ours.dw as number[][][][]).flat(3)).toEqual((expected.dw as number[][][][]).flat(3).map((v) => expect.closeTo(v, 3)));
    });
  }

  it('trains on the stock wasm backend, which has no Conv2DBackpropFilter', async () => {
    await import('@tensorflow/tfjs-backend-wasm');
    const expected = await gradients('cpu', false, [2, 8, 8, 3], [3, 3, 3, 4], 2);
    const ours = await gradients('wasm', true, [2, 8, 8, 3], [3, 3, 3, 4], 2);
    expect((ours.dw as number[][][][]).flat(3)).toEqual((expected.dw as number[][][][]).flat(3).map((v) => expect.closeTo(v, 2)));
  });
});
