import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { dropoutMaskOnCpu, dropoutOnGpu, GpuDropout, initWebGpu, installWebGpuOverrides, withGpuDropout } from './index';
import { dropoutSeed } from './dropout';
import { philox4x32 } from './philox';
import { maxAbsDifference, tensorsMadeOnCpu, valuesOn, webGpuForTests } from './test-support';

const webGpu = await webGpuForTests();

describe('Philox4x32-10', () => {
  // Known-answer vectors of the Random123 distribution (kat_vectors, philox4x32 10 rounds).
  it.each([
    [[0, 0, 0, 0], [0, 0], [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]],
    [[0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff], [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]],
    [[0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0], [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]],
  ])('matches the reference for counter %j, key %j', (counter, key, expected) => {
    expect(philox4x32(counter, key)).toEqual(expected);
  });
});

describe('dropout mask (CPU reference of the kernel)', () => {
  const size = 200_000;

  it.each([0.1, 0.25, 0.5, 0.9])('keeps 1 - %f of the elements (within 5 standard deviations)', (rate) => {
    const mask = dropoutMaskOnCpu(size, rate, 1234);
    const kept = mask.reduce((sum, bit) => sum + bit, 0) / size;
    const standardDeviation = Math.sqrt((rate * (1 - rate)) / size);
    expect(Math.abs(kept - (1 - rate))).toBeLessThan(5 * standardDeviation);
  });

  it('is the same for a seed and different for another', () => {
    expect(dropoutMaskOnCpu(1000, 0.25, 7)).toEqual(dropoutMaskOnCpu(1000, 0.25, 7));
    const other = dropoutMaskOnCpu(1000, 0.25, 8);
    const differing = dropoutMaskOnCpu(1000, 0.25, 7).filter((bit, i) => bit !== other[i]).length;
    // Two independent masks at keep 0.75 differ in 2·0.75·0.25 = 37.5% of the places.
    expect(differing).toBeGreaterThan(300);
    expect(differing).toBeLessThan(450);
  });

  it('uses the high word of the seed too', () => {
    expect(dropoutMaskOnCpu(1000, 0.5, 5)).not.toEqual(dropoutMaskOnCpu(1000, 0.5, 5 + 2 ** 32));
  });

  it('has no correlation between neighbours (lag-1, lag-4)', () => {
    const mask = dropoutMaskOnCpu(size, 0.5, 99);
    for (const lag of [1, 4]) {
      let agree = 0;
      for (let i = lag; i < size; i++) agree += mask[i] === mask[i - lag] ? 1 : 0;
      expect(Math.abs(agree / (size - lag) - 0.5)).toBeLessThan(5 * Math.sqrt(0.25 / size));
    }
  });
});

/** x = 1..n, so the output shows the mask (0) and the scale (x / keep) at once. */
function ramp(size: number): tf.Tensor {
  return tf.add(tf.range(0, size, 1, 'float32'), 1);
}

function checkDropoutOn(backendName: 'cpu' | 'webgpu') {
  it(`applies the reference mask and the 1/keep scale on ${backendName}`, async () => {
    const size = 4099; // not a multiple of 4: the last thread is partly out of range
    const got = await valuesOn(backendName, () => dropoutOnGpu(ramp(size), 0.25, 31337));
    const mask = dropoutMaskOnCpu(size, 0.25, 31337);
    const expected = Float32Array.from(mask, (bit, i) => (bit ? (i + 1) / 0.75 : 0));
    expect(maxAbsDifference(got, expected)).toBeLessThanOrEqual(1e-6 * size);
  });

  it(`has the gradient dy·mask/keep on ${backendName}`, async () => {
    const size = 1000;
    const weights = Float32Array.from({ length: size }, (_, i) => Math.sin(i));
    const got = await valuesOn(backendName, () =>
      tf.grad((x: tf.Tensor) => tf.sum(tf.mul(dropoutOnGpu(x, 0.4, 77), tf.tensor(weights))))(tf.ones([size])),
    );
    const mask = dropoutMaskOnCpu(size, 0.4, 77);
    const expected = Float32Array.from(mask, (bit, i) => (bit ? weights[i] / 0.6 : 0));
    expect(maxAbsDifference(got, expected)).toBeLessThanOrEqual(1e-6);
  });

  it(`keeps the expected share on ${backendName}`, async () => {
    const size = 100_000;
    const kept = await valuesOn(backendName, () => tf.mean(tf.notEqual(dropoutOnGpu(tf.ones([size]), 0.25, 5), 0).toFloat()));
    expect(Math.abs(kept[0] - 0.75)).toBeLessThan(5 * Math.sqrt((0.25 * 0.75) / size));
  });
}

describe('dropoutOnGpu on the cpu backend (reference kernel)', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
    installWebGpuOverrides();
  });
  checkDropoutOn('cpu');

  it('rejects rates outside [0, 1) and bad seeds', () => {
    expect(() => dropoutOnGpu(tf.ones([4]), 1, 1)).toThrow(/rate/);
    expect(() => dropoutOnGpu(tf.ones([4]), -0.1, 1)).toThrow(/rate/);
    expect(() => dropoutOnGpu(tf.ones([4]), 0.5, -1)).toThrow(/seed/);
  });
});

describe('GpuDropout layer', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
    installWebGpuOverrides();
  });

  function model(seed: number) {
    const input = tf.input({ shape: [8, 8, 4] });
    const output = new GpuDropout({ rate: 0.25, seed }).apply(input) as tf.SymbolicTensor;
    return tf.model({ inputs: input, outputs: output });
  }

  it('is the identity at inference and drops in training', async () => {
    const m = model(3);
    const x = tf.ones([2, 8, 8, 4]);
    expect(await (m.apply(x) as tf.Tensor).data()).toEqual(await x.data());
    const trained = (await (m.apply(x, { training: true }) as tf.Tensor).data()) as Float32Array;
    const zeros = trained.filter((v) => v === 0).length;
    expect(zeros).toBeGreaterThan(0.15 * trained.length);
    expect(zeros).toBeLessThan(0.35 * trained.length);
    expect(trained.filter((v) => v !== 0).every((v) => Math.abs(v - 1 / 0.75) < 1e-6)).toBe(true);
  });

  it('draws a new mask on every call and repeats for the same seed', async () => {
    const x = tf.ones([2, 8, 8, 4]);
    const first = model(11);
    const a1 = await (first.apply(x, { training: true }) as tf.Tensor).data();
    const a2 = await (first.apply(x, { training: true }) as tf.Tensor).data();
    expect(a2).not.toEqual(a1);
    const second = model(11);
    expect(await (second.apply(x, { training: true }) as tf.Tensor).data()).toEqual(a1);
  });

  it('with a step clock, keys each call by (seed, step, its number in the step): a layer made later draws the same masks', async () => {
    const x = tf.ones([2, 8, 8, 4]);
    let step = 5;
    const clocked = (seed: number) => new GpuDropout({ rate: 0.25, seed, stepClock: () => step });
    const mask = (values: ArrayLike<number>) => Array.from(values, (v) => (v === 0 ? 0 : 1));
    const running = clocked(21);
    const first = mask(await (running.apply(x, { training: true }) as tf.Tensor).data());
    const second = mask(await (running.apply(x, { training: true }) as tf.Tensor).data());
    expect(first).toEqual(Array.from(dropoutMaskOnCpu(x.size, 0.25, dropoutSeed(21, { step: 5, call: 0 }))));
    expect(second).toEqual(Array.from(dropoutMaskOnCpu(x.size, 0.25, dropoutSeed(21, { step: 5, call: 1 }))));
    expect(second).not.toEqual(first);
    step = 6; // a new step numbers its calls from 0 again
    const next = mask(await (running.apply(x, { training: true }) as tf.Tensor).data());
    expect(next).toEqual(Array.from(dropoutMaskOnCpu(x.size, 0.25, dropoutSeed(21, { step: 6, call: 0 }))));
    // a layer made at step 6 (a resumed run) draws what the running one drew there
    const resumed = clocked(21);
    expect(mask(await (resumed.apply(x, { training: true }) as tf.Tensor).data())).toEqual(next);
  });

  it('serialises its rate and seed', () => {
    const layer = new GpuDropout({ rate: 0.3, seed: 9, name: 'drop' });
    const config = layer.getConfig();
    expect(config).toMatchObject({ rate: 0.3, seed: 9, name: 'drop' });
    const restored = tf.serialization.SerializationMap.getMap().classNameMap['GpuDropout'];
    expect(restored).toBeDefined();
  });

  it('replaces the dropout layers of a model and shares its other layers (withGpuDropout)', async () => {
    const original = tf.sequential({
      layers: [
        tf.layers.dense({ inputShape: [6], units: 5 }),
        tf.layers.dropout({ rate: 0.25 }),
        tf.layers.dense({ units: 2 }),
        tf.layers.dropout({ rate: 0.5 }),
      ],
    });
    const replaced = withGpuDropout(original, 40);
    const classNames = replaced.layers.map((layer) => layer.getClassName());
    expect(classNames.filter((name) => name === 'GpuDropout')).toHaveLength(2);
    expect(classNames).not.toContain('Dropout');
    expect(replaced.layers.filter((layer) => layer.getClassName() === 'GpuDropout').map((l) => (l as GpuDropout).rate)).toEqual([0.25, 0.5]);
    expect(replaced.trainableWeights.map((w) => w.read())).toEqual(original.trainableWeights.map((w) => w.read()));
    const x = tf.ones([3, 6]);
    expect(await (replaced.predict(x) as tf.Tensor).data()).toEqual(await (original.predict(x) as tf.Tensor).data());
  });

  it('applies the same mask in JS where the backend has no such kernel', async () => {
    const layer = new GpuDropout({ rate: 0.5, seed: 1 });
    const withKernel = await (layer.apply(tf.ones([1000]), { training: true }) as tf.Tensor).data();
    const kernel = tf.getKernel('FaceganGpuDropout', 'cpu');
    tf.unregisterKernel('FaceganGpuDropout', 'cpu');
    try {
      const again = new GpuDropout({ rate: 0.5, seed: 1 });
      const x = tf.ones([1000]);
      expect(await (again.apply(x, { training: true }) as tf.Tensor).data()).toEqual(withKernel);
      const gradient = await tf.grad((input: tf.Tensor) => tf.sum(dropoutOnGpu(input, 0.5, 1)))(x).data();
      expect(gradient).toEqual(withKernel);
    } finally {
      if (kernel) tf.registerKernel(kernel);
    }
  });
});

describe.skipIf(!webGpu.available)(`dropoutOnGpu on webgpu ${webGpu.skipReason}`, () => {
  beforeAll(async () => {
    await initWebGpu();
  });
  checkDropoutOn('webgpu');

  it('draws the same mask on webgpu as on the cpu for the same seed', async () => {
    const compute = () => dropoutOnGpu(ramp(10_000), 0.5, 2 ** 40 + 3);
    expect(await valuesOn('webgpu', compute)).toEqual(await valuesOn('cpu', compute));
  });

  it('makes no tensor on the CPU', async () => {
    const x = tf.randomNormal([64, 64]);
    await x.data();
    const made = await tensorsMadeOnCpu(() => dropoutOnGpu(x, 0.25, 1).data());
    expect(made).toBe(0);
  });
});
