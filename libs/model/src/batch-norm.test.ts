import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { batchNormalization, buildDiscriminator, buildGenerator, FaceganBatchNormalization } from './index';
import { saveAndLoad } from './test-support';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

let seed = 0;
const randomTensor = (shape: number[], low = -1, high = 1) => tf.randomUniform(shape, low, high, 'float32', ++seed);

const maxRelativeDifference = (a: tf.Tensor, b: tf.Tensor) => {
  const [x, y] = [a.dataSync(), b.dataSync()];
  const scale = Math.max(1, ...Array.from(y, Math.abs));
  return Math.max(...Array.from(x, (v, i) => Math.abs(v - y[i]))) / scale;
};

/** The layer's output and its gradients (x, γ, β) under a random linear loss, in training mode, and the moving statistics after. */
function trainingStep(layer: tf.layers.Layer, x: tf.Tensor, lossWeights: tf.Tensor) {
  return tf.tidy(() => {
    const [gamma, beta] = layer.trainableWeights.map((w) => w.read());
    const f = (input: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      layer.trainableWeights[0].write(g);
      layer.trainableWeights[1].write(b);
      return tf.sum(tf.mul(layer.apply(input, { training: true }) as tf.Tensor, lossWeights)) as tf.Scalar;
    };
    const { grads } = tf.valueAndGrads(f)([x, gamma, beta]);
    const output = layer.apply(x, { training: false }) as tf.Tensor;
    const moving = layer.getWeights().slice(2);
    return { grads: grads.map((g) => tf.keep(g)), output: tf.keep(output), moving: moving.map((m) => tf.keep(m.clone())) };
  });
}

describe('FaceganBatchNormalization', () => {
  const shapes = [
    [4, 5, 6, 7],
    [3, 8, 8, 16],
    [6, 10],
  ];

  it.each(shapes)('matches tfjs-layers BatchNormalization: training output, gradients, moving statistics, inference (%j)', (...shape) => {
    const x = randomTensor(shape, -2, 3);
    const lossWeights = randomTensor(shape);
    const channels = shape[shape.length - 1];
    const gamma = randomTensor([channels], 0.5, 1.5);
    const beta = randomTensor([channels]);
    const stock = tf.layers.batchNormalization({ momentum: 0.8 });
    const ours = batchNormalization({ momentum: 0.8 });
    for (const layer of [stock, ours]) {
      layer.build(x.shape);
      layer.setWeights([gamma, beta, ...layer.getWeights().slice(2)]);
    }
    const forward = (layer: tf.layers.Layer) => tf.tidy(() => layer.apply(x, { training: true }) as tf.Tensor);
    const [stockForward, oursForward] = [forward(stock), forward(ours)];
    // the same ops forward (tf.moments, FusedBatchNorm): the same values
    expect(Array.from(oursForward.dataSync())).toEqual(Array.from(stockForward.dataSync()));

    const expected = trainingStep(stock, x, lossWeights);
    const got = trainingStep(ours, x, lossWeights);
    // the gradient formula differs from the chain tfjs records in rounding only
    got.grads.forEach((g, i) => expect(maxRelativeDifference(g, expected.grads[i]), `gradient ${i}`).toBeLessThan(2e-6));
    // the moving averages: the same ops as tfjs-layers, after two updates (the forward pass above, then the step)
    got.moving.forEach((m, i) => expect(Array.from(m.dataSync())).toEqual(Array.from(expected.moving[i].dataSync())));
    expect(Array.from(got.output.dataSync())).toEqual(Array.from(expected.output.dataSync()));
    tf.dispose([x, lossWeights, gamma, beta, stockForward, oursForward, ...Object.values(expected).flat(), ...Object.values(got).flat()]);
  });

  it("keeps no more tensors than tfjs-layers' layer, in training mode, under a gradient or not", () => {
    const x = tf.randomNormal([2, 3, 3, 4]);
    // tfjs 4.22 counts one tensor more after each training-mode call of tfjs-layers' own BatchNormalization
    // made outside minimize() (none in the trainer's steps, tested in libs/engine): the subclass must not add to it
    const growth = (layer: tf.layers.Layer) => {
      layer.apply(x, { training: true });
      const before = tf.memory().numTensors;
      tf.tidy(() => layer.apply(x, { training: true }) as tf.Tensor);
      tf.tidy(() => tf.grad((input: tf.Tensor) => tf.sum(layer.apply(input, { training: true }) as tf.Tensor))(x));
      return tf.memory().numTensors - before;
    };
    expect(growth(batchNormalization({ momentum: 0.8 }))).toBe(growth(tf.layers.batchNormalization({ momentum: 0.8 })));
    x.dispose();
  });

  it("the networks built with it hold tfjs-layers' weights in the same order, and save and load as FaceganBatchNormalization", async () => {
    const m = { resolution: 32, width: 0.125, dropout: 0.25, latentDim: 16 };
    for (const build of [buildGenerator, buildDiscriminator]) {
      const stock = build(m, { seed: 3 });
      const fused = build(m, { seed: 3, fusedBatchNorm: true });
      expect(fused.layers.filter((l) => l instanceof FaceganBatchNormalization)).toHaveLength(stock.layers.filter((l) => l.getClassName() === 'BatchNormalization').length);
      expect(fused.getWeights().map((w) => w.shape)).toEqual(stock.getWeights().map((w) => w.shape));
      // (checkpoints restore by position and shape: layer names carry per-process counters)
      expect(fused.weights.map((w) => w.name.split('/').pop())).toEqual(stock.weights.map((w) => w.name.split('/').pop()));
      const loaded = await saveAndLoad(fused);
      expect(loaded.layers.filter((l) => l.getClassName() === 'FaceganBatchNormalization').length).toBeGreaterThan(0);
      const input = tf.randomNormal([2, ...(fused.inputs[0].shape.slice(1) as number[])], 0, 1, 'float32', 5);
      expect(Array.from((loaded.predict(input) as tf.Tensor).dataSync())).toEqual(Array.from((fused.predict(input) as tf.Tensor).dataSync()));
      tf.dispose(input);
      [stock, fused, loaded].forEach((model) => model.dispose());
    }
  });
});
