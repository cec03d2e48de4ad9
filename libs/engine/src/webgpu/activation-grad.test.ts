import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initWebGpu } from './index';
import { maxAbsDifference, randomValues, seededRandom, valuesOn, webGpuForTests } from './test-support';

const webGpu = await webGpuForTests();

describe.skipIf(!webGpu.available)(`fused LeakyRelu, Relu and Square gradients on webgpu ${webGpu.skipReason}`, () => {
  beforeAll(async () => {
    await initWebGpu();
  });

  const random = seededRandom(71);
  const pick = (low: number, high: number) => low + Math.floor(random() * (high - low + 1));
  const shapes = [[5], [3, 7], [2, 4, 5, 3], ...Array.from({ length: 5 }, () => [pick(1, 4), pick(1, 9), pick(1, 9), pick(1, 20)])];

  // One multiply and a select per element, the same as tfjs-core's: results must be identical (0
  // allowed; measured 0 on lavapipe).
  it.each(shapes.map((shape, i) => [i, shape] as const))('case %i (%o) matches tfjs-core on the cpu backend', async (index, shape) => {
    const size = tf.util.sizeFromShape(shape);
    const xValues = randomValues(size, seededRandom(800 + index));
    xValues[0] = 0; // x = 0 takes the α branch in both
    const weights = randomValues(size, seededRandom(900 + index));
    for (const activation of ['leakyRelu', 'relu', 'square'] as const) {
      const compute = () =>
        tf.grad((x: tf.Tensor) => {
          const y = activation === 'relu' ? tf.relu(x) : activation === 'square' ? tf.square(x) : tf.leakyRelu(x, 0.2);
          return tf.sum(tf.mul(y, tf.tensor(weights, shape)));
        })(tf.tensor(xValues, shape));
      const reference = await valuesOn('cpu', compute);
      const got = await valuesOn('webgpu', compute);
      expect(maxAbsDifference(got, reference)).toBe(0);
    }
  });

  it('runs one kernel per gradient', async () => {
    const x = tf.tensor([-1, 2, 0, 3]);
    for (const f of [(t: tf.Tensor) => tf.leakyRelu(t, 0.2), (t: tf.Tensor) => tf.square(t)]) {
      const profile = await tf.profile(() => {
        tf.grad((t: tf.Tensor) => tf.sum(f(t)))(x).dispose();
      });
      const names = profile.kernels.map((k) => k.name);
      expect(names).toContain('FaceganActivationGrad');
      expect(names).not.toContain('Select');
      expect(names.filter((name) => name === 'Multiply')).toHaveLength(0);
    }
    x.dispose();
  });
});
