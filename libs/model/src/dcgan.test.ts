import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ModelSettings } from '@facegan/spec';
import { buildDiscriminator, buildGenerator, modelFlops, SeparateBiasConv2D, UpsampleConv2D } from './index';
import { saveAndLoad } from './test-support';

const settings = (resolution: number, width: number): ModelSettings => ({ resolution, width, dropout: 0.25, latentDim: 100 });
const models: tf.LayersModel[] = [];
const track = (model: tf.LayersModel) => (models.push(model), model);

beforeAll(async () => {
  await tf.setBackend('cpu');
});

afterEach(() => {
  for (const model of models.splice(0)) model.dispose();
});

const classNames = (model: tf.LayersModel) => model.layers.map((layer) => layer.getClassName());
const count = (model: tf.LayersModel, className: string) => classNames(model).filter((name) => name === className).length;
const weightValues = (model: tf.LayersModel) => model.getWeights().map((w) => ({ shape: w.shape, values: Array.from(w.dataSync()) }));

describe('output shapes', () => {
  for (const resolution of [32, 64]) {
    it(`generator and discriminator at ${resolution} px, width 0.25`, () => {
      const m = settings(resolution, 0.25);
      const generator = track(buildGenerator(m));
      const discriminator = track(buildDiscriminator(m));
      expect(generator.outputs[0].shape).toEqual([null, resolution, resolution, 3]);
      expect(discriminator.outputs[0].shape).toEqual([null, 1]);

      tf.tidy(() => {
        const images = generator.predict(tf.randomNormal([2, m.latentDim])) as tf.Tensor;
        expect(images.shape).toEqual([2, resolution, resolution, 3]);
        const pixels = images.dataSync();
        expect(Math.max(...pixels)).toBeLessThanOrEqual(1);
        expect(Math.min(...pixels)).toBeGreaterThanOrEqual(-1);
        const probabilities = (discriminator.predict(images) as tf.Tensor).dataSync();
        expect(probabilities).toHaveLength(2);
        for (const p of probabilities) expect(p > 0 && p < 1).toBe(true);
      });
    });
  }

  it('rejects a resolution that is not a multiple of 32', () => {
    expect(() => buildGenerator(settings(48, 1))).toThrow(/multiple of 32/);
    expect(() => buildDiscriminator(settings(0, 1))).toThrow(/multiple of 32/);
  });
});

describe('layer sequence', () => {
  it('generator: dense, reshape, upsample+conv+BN+relu blocks (one more above 32 px), conv + tanh', () => {
    const at32 = track(buildGenerator(settings(32, 1)));
    const upsampleBlock = ['UpSampling2D', 'Conv2D', 'BatchNormalization', 'Activation'];
    expect(classNames(at32)).toEqual([
      'Dense',
      'Reshape',
      ...upsampleBlock,
      ...upsampleBlock,
      ...upsampleBlock,
      'Conv2D',
      'Activation',
    ]);

    const at96 = track(buildGenerator(settings(96, 1)));
    expect(count(at96, 'Conv2D')).toBe(5);
    expect(count(at96, 'BatchNormalization')).toBe(4);
    const config = (i: number) => at96.layers[i].getConfig();
    expect(config(0)).toMatchObject({ units: 4096, activation: 'relu' });
    expect(config(1)).toMatchObject({ targetShape: [4, 4, 256] });
    const upsamplings = at96.layers.filter((l) => l.getClassName() === 'UpSampling2D').map((l) => l.getConfig().size);
    expect(upsamplings).toEqual([[2, 2], [2, 2], [2, 2], [3, 3]]);
    const convs = at96.layers.filter((l) => l.getClassName() === 'Conv2D').map((l) => l.getConfig());
    expect(convs.map((c) => c.filters)).toEqual([256, 256, 128, 128, 3]);
    for (const conv of convs) expect(conv).toMatchObject({ kernelSize: [3, 3], padding: 'same', strides: [1, 1] });
    for (const layer of at96.layers.filter((l) => l.getClassName() === 'BatchNormalization')) {
      expect(layer.getConfig().momentum).toBe(0.8);
    }
    const activations = at96.layers.filter((l) => l.getClassName() === 'Activation').map((l) => l.getConfig().activation);
    expect(activations).toEqual(['relu', 'relu', 'relu', 'relu', 'tanh']);
  });

  it('discriminator: 5 convs (s2 s2 s2 s1 s1), zero padding, 4 BN, 5 LeakyReLU 0.2, 5 dropouts, sigmoid dense', () => {
    const discriminator = track(buildDiscriminator({ ...settings(96, 1), dropout: 0.3 }));
    const block = ['Conv2D', 'BatchNormalization', 'LeakyReLU', 'Dropout'];
    expect(classNames(discriminator)).toEqual([
      'Conv2D',
      'LeakyReLU',
      'Dropout',
      'Conv2D',
      'ZeroPadding2D',
      'BatchNormalization',
      'LeakyReLU',
      'Dropout',
      ...block,
      ...block,
      ...block,
      'Flatten',
      'Dense',
    ]);
    const convs = discriminator.layers.filter((l) => l.getClassName() === 'Conv2D').map((l) => l.getConfig());
    expect(convs.map((c) => c.filters)).toEqual([32, 64, 128, 256, 512]);
    expect(convs.map((c) => c.strides)).toEqual([[2, 2], [2, 2], [2, 2], [1, 1], [1, 1]]);
    for (const conv of convs) expect(conv).toMatchObject({ kernelSize: [3, 3], padding: 'same' });
    const of = (name: string) => discriminator.layers.filter((l) => l.getClassName() === name).map((l) => l.getConfig());
    for (const c of of('BatchNormalization')) expect(c.momentum).toBe(0.8);
    for (const c of of('LeakyReLU')) expect(c.alpha).toBeCloseTo(0.2, 6);
    for (const c of of('Dropout')) expect(c.rate).toBe(0.3);
    expect(of('ZeroPadding2D')[0].padding).toEqual([[0, 1], [0, 1]]);
    expect(of('Dense')[0]).toMatchObject({ units: 1, activation: 'sigmoid' });
  });

  it('builds its dropouts with the dropoutLayer factory, in order, with the rate', () => {
    const calls: Array<[number, number]> = [];
    const discriminator = track(
      buildDiscriminator(
        { ...settings(32, 0.125), dropout: 0.4 },
        {
          dropoutLayer: (rate, index) => {
            calls.push([rate, index]);
            return tf.layers.activation({ activation: 'linear', name: `custom_dropout_${index}` });
          },
        },
      ),
    );
    expect(calls).toEqual([0, 1, 2, 3, 4].map((index) => [0.4, index]));
    expect(count(discriminator, 'Dropout')).toBe(0);
    const custom = discriminator.layers.filter((layer) => layer.name.startsWith('custom_dropout_'));
    expect(custom.map((layer) => layer.name)).toEqual([0, 1, 2, 3, 4].map((index) => `custom_dropout_${index}`));
    // each stands where a dropout stood: right after a LeakyReLU
    for (const layer of custom) {
      expect(discriminator.layers[discriminator.layers.indexOf(layer) - 1].getClassName()).toBe('LeakyReLU');
    }
  });

  it('width scales every filter count, rounded and at least 1', () => {
    const generator = track(buildGenerator(settings(64, 0.125)));
    const convs = generator.layers.filter((l) => l.getClassName() === 'Conv2D').map((l) => l.getConfig().filters);
    expect(convs).toEqual([32, 32, 16, 16, 3]);
    expect(generator.layers[0].getConfig().units).toBe(4 * 4 * 32);
    const tiny = track(buildDiscriminator(settings(32, 0.01)));
    const filters = tiny.layers.filter((l) => l.getClassName() === 'Conv2D').map((l) => l.getConfig().filters);
    expect(filters).toEqual([1, 1, 1, 3, 5]);
  });
});

describe('parameter count at width 1, 96 px, latent 100', () => {
  it('generator: 2,043,011', () => {
    // Dense 100·4096 + 4096 = 413,696
    // Conv 256→256: 9·256·256 + 256 = 590,080, twice; Conv 256→128: 295,040; Conv 128→128: 147,584; Conv 128→3: 3,459
    // BN 4 per channel (γ, β, moving mean, moving variance): 4·(256 + 256 + 128 + 128) = 3,072
    // 413,696 + 2·590,080 + 295,040 + 147,584 + 3,459 + 3,072 = 2,043,011 (as the notebook's summary)
    const generator = track(buildGenerator(settings(96, 1)));
    expect(generator.countParams()).toBe(2_043_011);
  });

  it('discriminator: 1,658,945', () => {
    // Conv 3→32: 896; 32→64: 18,496; 64→128: 73,856; 128→256: 295,168; 256→512: 1,180,160
    // BN 4·(64 + 128 + 256 + 512) = 3,840
    // 96 → 48 → 24 → pad 25 → 13; Dense 13·13·512 + 1 = 86,529
    // 896 + 18,496 + 73,856 + 295,168 + 1,180,160 + 3,840 + 86,529 = 1,658,945
    const discriminator = track(buildDiscriminator(settings(96, 1)));
    expect(discriminator.countParams()).toBe(1_658_945);
  });
});

describe('seeded weights', () => {
  it('the same seed gives the same weights, another seed other weights', () => {
    const m = settings(32, 0.125);
    const weights = (seed: number) => {
      const model = track(buildGenerator(m, { seed }));
      return model.getWeights().map((w) => Array.from(w.dataSync()));
    };
    const a = weights(7);
    expect(weights(7)).toEqual(a);
    expect(weights(8)[0]).not.toEqual(a[0]);
    // every layer draws its own numbers: the two 256→256 convs (at width 0.125: 32→32) differ
    const convKernels = a.filter((w) => w.length === 9 * 32 * 32);
    expect(convKernels).toHaveLength(2);
    expect(convKernels[0]).not.toEqual(convKernels[1]);
  });
});

describe('fused upsampling (UpsampleConv2D)', () => {
  it('holds the two-layer generator\'s weights, in order, and computes the same function (96 px: sizes 2 and 3)', () => {
    const m = settings(96, 0.125);
    const layered = track(buildGenerator(m, { seed: 7 }));
    const fused = track(buildGenerator(m, { seed: 7, fusedUpsampling: true }));
    expect(count(fused, 'FaceganUpsampleConv2D')).toBe(4);
    expect(count(fused, 'UpSampling2D')).toBe(0);
    expect(fused.layers.filter((l) => l instanceof UpsampleConv2D).map((l) => (l as UpsampleConv2D).size)).toEqual([2, 2, 2, 3]);
    expect(weightValues(fused)).toEqual(weightValues(layered));
    tf.tidy(() => {
      const latents = tf.randomNormal([2, m.latentDim], 0, 1, 'float32', 3);
      const expected = (layered.predict(latents) as tf.Tensor).dataSync();
      const got = (fused.predict(latents) as tf.Tensor).dataSync();
      expect(Array.from(got)).toEqual(Array.from(expected));
    });
  });

  it('saves and loads as a LayersModel (sampling from a checkpoint)', async () => {
    const m = settings(32, 0.125);
    const fused = track(buildGenerator(m, { seed: 5, fusedUpsampling: true }));
    const loaded = track(await saveAndLoad(fused));
    expect(count(loaded, 'FaceganUpsampleConv2D')).toBe(3);
    tf.tidy(() => {
      const latents = tf.randomNormal([2, m.latentDim], 0, 1, 'float32', 4);
      expect(Array.from((loaded.predict(latents) as tf.Tensor).dataSync())).toEqual(Array.from((fused.predict(latents) as tf.Tensor).dataSync()));
    });
  });
});

describe('discriminator convolutions with a separate bias (SeparateBiasConv2D)', () => {
  it('saves and loads as a LayersModel', async () => {
    const separate = track(buildDiscriminator(settings(32, 0.125), { seed: 6, separateConvBias: true }));
    const loaded = track(await saveAndLoad(separate));
    expect(count(loaded, 'FaceganSeparateBiasConv2D')).toBe(5);
    expect(weightValues(loaded)).toEqual(weightValues(separate));
    tf.tidy(() => {
      const images = tf.randomUniform([2, 32, 32, 3], -1, 1, 'float32', 7);
      expect(Array.from((loaded.predict(images) as tf.Tensor).dataSync())).toEqual(Array.from((separate.predict(images) as tf.Tensor).dataSync()));
    });
  });

  it("hold the Conv2D layers' weights, in order, and compute the same function and weight gradients", () => {
    const m = settings(32, 0.125);
    const stock = track(buildDiscriminator(m, { seed: 4 }));
    const separate = track(buildDiscriminator(m, { seed: 4, separateConvBias: true }));
    expect(count(separate, 'FaceganSeparateBiasConv2D')).toBe(5);
    expect(count(separate, 'Conv2D')).toBe(0);
    expect(separate.layers.filter((l) => l instanceof SeparateBiasConv2D).map((l) => (l as SeparateBiasConv2D).strides)).toEqual([2, 2, 2, 1, 1]);
    expect(weightValues(separate)).toEqual(weightValues(stock));
    expect(separate.outputs[0].shape).toEqual(stock.outputs[0].shape);
    tf.tidy(() => {
      const images = tf.randomUniform([3, 32, 32, 3], -1, 1, 'float32', 5);
      const close = (a: Float32Array | Int32Array | Uint8Array, b: Float32Array | Int32Array | Uint8Array) =>
        Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i])));
      expect(close((separate.predict(images) as tf.Tensor).dataSync(), (stock.predict(images) as tf.Tensor).dataSync())).toBeLessThan(1e-6);
      // the weight gradients of a loss through both (inference mode: no dropout masks to match)
      const gradients = (model: tf.LayersModel) => {
        const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
        const { grads } = tf.variableGrads(() => tf.sum(model.apply(images) as tf.Tensor) as tf.Scalar, variables);
        return variables.map((v) => grads[v.name].dataSync());
      };
      const expected = gradients(stock);
      gradients(separate).forEach((g, i) => expect(close(g, expected[i]), `gradient ${i}`).toBeLessThan(1e-5));
    });
  });
});

describe('modelFlops', () => {
  /**
   * 2 · multiply-adds of every Conv2D and Dense layer, read from the built model; an UpsampleConv2D of
   * size s counts as the sub-pixel convolutions it runs (upsample-conv.ts).
   */
  function countedForwardFlops(model: tf.LayersModel): number {
    let multiplyAdds = 0;
    for (const layer of model.layers) {
      const kernel = layer.getWeights()[0];
      if (layer instanceof UpsampleConv2D) {
        // its phase groups: 2×2 windows over the input padded by 1 on both axes (edge × edge phases), 2×1 and
        // 1×2 (edge × middle), 1×1 (middle × middle); 4 phases in the first, 2(s−2), 2(s−2), (s−2)²
        const [, height, width] = layer.outputShape as number[];
        const [, , cin, cout] = kernel.shape;
        const s = layer.size;
        const [h, w, m] = [height / s, width / s, s - 2];
        multiplyAdds += cin * cout * (16 * (h + 1) * (w + 1) + 4 * m * ((h + 1) * w + h * (w + 1)) + m * m * h * w);
      } else if (['Conv2D', 'FaceganSeparateBiasConv2D'].includes(layer.getClassName())) {
        const [, height, width] = layer.outputShape as number[];
        const [kh, kw, cin, cout] = kernel.shape;
        multiplyAdds += height * width * kh * kw * cin * cout;
      } else if (layer.getClassName() === 'Dense') {
        const [inputs, units] = kernel.shape;
        multiplyAdds += inputs * units;
      }
    }
    return 2 * multiplyAdds;
  }

  for (const [resolution, width] of [
    [32, 0.5],
    [64, 0.25],
    [96, 1],
    [128, 0.25],
  ]) {
    it(`matches the layers of the built models at ${resolution} px, width ${width}`, () => {
      const m = settings(resolution, width);
      const flops = modelFlops(m, 8);
      const generator = countedForwardFlops(track(buildGenerator(m)));
      const discriminator = countedForwardFlops(track(buildDiscriminator(m)));
      expect(flops.generatorForward).toBe(8 * generator);
      expect(flops.discriminatorForward).toBe(8 * discriminator);
      expect(flops.trainStep).toBe(8 * (3 * generator + 8 * discriminator));
      const subPixelGenerator = countedForwardFlops(track(buildGenerator(m, { fusedUpsampling: true })));
      expect(countedForwardFlops(track(buildDiscriminator(m, { separateConvBias: true })))).toBe(discriminator);
      expect(flops.subPixelTrainStep).toBe(8 * (3 * subPixelGenerator + 8 * discriminator));
    });
  }

  it('seed model at 96 px: 3.76 GFLOP per generated image, 0.55 per discriminated one', () => {
    const { generatorForward, discriminatorForward } = modelFlops(settings(96, 1), 1);
    // 2·(409,600 + 64·589,824 + 256·589,824 + 1024·294,912 + 9216·147,456 + 9216·3,456)
    expect(generatorForward).toBe(2 * (409_600 + 64 * 589_824 + 256 * 589_824 + 1024 * 294_912 + 9216 * 147_456 + 9216 * 3456));
    expect(generatorForward / 1e9).toBeCloseTo(3.7639, 4);
    expect(discriminatorForward / 1e9).toBeCloseTo(0.5487, 4);
  });
});
