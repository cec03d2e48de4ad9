import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setGemmTileLimit } from './gemm-tiles';
import { initWebGpu, installWebGpuOverrides, setGemmDoubleBuffer, setGemmPrefetch, setGemmVectorTiles } from './index';
import { GEMM_MODES, gemmTolerance, maxAbsDifference, randomValues, seededRandom, valuesOn, webGpuForTests } from './test-support';

const webGpu = await webGpuForTests();

interface Case {
  batch: number;
  height: number;
  width: number;
  inChannels: number;
  outChannels: number;
  filter: number;
  stride: number;
  pad: 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];
  bias: boolean;
}

const fixedCases: Case[] = [
  { batch: 2, height: 8, width: 8, inChannels: 3, outChannels: 32, filter: 3, stride: 2, pad: 'same', bias: true },
  { batch: 2, height: 9, width: 7, inChannels: 5, outChannels: 6, filter: 3, stride: 1, pad: 'same', bias: true },
  { batch: 1, height: 11, width: 13, inChannels: 40, outChannels: 3, filter: 3, stride: 1, pad: 'same', bias: true },
  { batch: 3, height: 7, width: 5, inChannels: 33, outChannels: 70, filter: 3, stride: 1, pad: 'valid', bias: false },
  { batch: 2, height: 6, width: 6, inChannels: 17, outChannels: 9, filter: 1, stride: 1, pad: 'same', bias: true },
  { batch: 1, height: 10, width: 9, inChannels: 7, outChannels: 3, filter: 5, stride: 2, pad: 'same', bias: false },
  // the generator's sub-pixel convolution: 2×2, padded by 1 all round, 4× the filters
  { batch: 2, height: 5, width: 6, inChannels: 7, outChannels: 12, filter: 2, stride: 1, pad: [[0, 0], [1, 1], [1, 1], [0, 0]], bias: true },
  { batch: 3, height: 8, width: 8, inChannels: 33, outChannels: 132, filter: 2, stride: 1, pad: [[0, 0], [1, 1], [1, 1], [0, 0]], bias: true },
];

function randomCases(count: number, seed: number): Case[] {
  const random = seededRandom(seed);
  const pick = (low: number, high: number) => low + Math.floor(random() * (high - low + 1));
  return Array.from({ length: count }, () => {
    const filter = random() < 0.8 ? 3 : pick(1, 4);
    return {
      batch: pick(1, 3),
      height: pick(filter, 12),
      width: pick(filter, 12),
      inChannels: pick(1, 40),
      outChannels: pick(1, 70),
      filter,
      stride: pick(1, 2),
      pad: random() < 0.5 ? ('same' as const) : ('valid' as const),
      bias: random() < 0.7,
    };
  });
}

describe.skipIf(!webGpu.available)(`FusedConv2D and Conv2D implicit GEMM on webgpu ${webGpu.skipReason}`, () => {
  beforeAll(async () => {
    await initWebGpu();
  });

  afterAll(() => {
    setGemmTileLimit(8);
    setGemmVectorTiles(true);
    setGemmPrefetch(false);
    setGemmDoubleBuffer(false);
  });

  // every case with 64×64 tiles, and with 128×128 tiles forced on (a grid of one workgroup is enough)
  const cases = [...fixedCases, ...randomCases(12, 23)];
  // each code-generation mode with both tile sizes; the prefetch modes (a different loop, not different
  // index maths) on the fixed cases only, to keep the run short on lavapipe
  const tilings = GEMM_MODES.flatMap((mode) => [
    { name: `64×64 ${mode.name}`, cases: mode.prefetch ? fixedCases : cases, set: () => (setGemmTileLimit(4), setGemmVectorTiles(mode.vector), setGemmPrefetch(mode.prefetch), setGemmDoubleBuffer(mode.double)) },
    { name: `128×128 ${mode.name}`, cases: mode.prefetch ? fixedCases : cases, set: () => (setGemmTileLimit(8, 1), setGemmVectorTiles(mode.vector), setGemmPrefetch(mode.prefetch), setGemmDoubleBuffer(mode.double)) },
  ]);
  it.each(tilings.flatMap((tiling) => tiling.cases.map((c, i) => [tiling.name, i, c, tiling.set] as const)))('%s, case %i matches the cpu backend: %o', async (_tiles, index, c, setTiles) => {
    setTiles();
    const random = seededRandom(3000 + index);
    const xShape: [number, number, number, number] = [c.batch, c.height, c.width, c.inChannels];
    const filterShape: [number, number, number, number] = [c.filter, c.filter, c.inChannels, c.outChannels];
    const xValues = randomValues(tf.util.sizeFromShape(xShape), random);
    const filterValues = randomValues(tf.util.sizeFromShape(filterShape), random);
    const biasValues = randomValues(c.outChannels, random);
    const compute = () =>
      tf.fused.conv2d({
        x: tf.tensor4d(xValues, xShape),
        filter: tf.tensor4d(filterValues, filterShape),
        strides: c.stride,
        pad: c.pad,
        bias: c.bias ? tf.tensor1d(biasValues) : undefined,
      });
    const reference = await valuesOn('cpu', compute);
    const got = await valuesOn('webgpu', compute);
    expect(maxAbsDifference(got, reference)).toBeLessThanOrEqual(gemmTolerance(c.filter * c.filter * c.inChannels, reference));
  });

  // the plain Conv2D kernel (tf.conv2d, e.g. the discriminator's SeparateBiasConv2D) runs the same GEMM
  it.each(fixedCases.map((c, i) => [i, c] as const))('Conv2D (tf.conv2d), case %i matches the cpu backend: %o', async (index, c) => {
    setGemmTileLimit(8, 1);
    setGemmVectorTiles(false);
    setGemmPrefetch(false);
    setGemmDoubleBuffer(false);
    const random = seededRandom(4000 + index);
    const xShape: [number, number, number, number] = [c.batch, c.height, c.width, c.inChannels];
    const filterShape: [number, number, number, number] = [c.filter, c.filter, c.inChannels, c.outChannels];
    const xValues = randomValues(tf.util.sizeFromShape(xShape), random);
    const filterValues = randomValues(tf.util.sizeFromShape(filterShape), random);
    const compute = () => tf.conv2d(tf.tensor4d(xValues, xShape), tf.tensor4d(filterValues, filterShape), c.stride, c.pad);
    const reference = await valuesOn('cpu', compute);
    const got = await valuesOn('webgpu', compute);
    expect(maxAbsDifference(got, reference)).toBeLessThanOrEqual(gemmTolerance(c.filter * c.filter * c.inChannels, reference));
  });

  it.each([tf.FusedConv2D, tf.Conv2D])("%s is installed by default ('all'); the 'v2' baseline keeps tfjs's", (kernelName) => {
    const ours = tf.getKernel(kernelName, 'webgpu')?.kernelFunc;
    installWebGpuOverrides('v2');
    try {
      expect(tf.getKernel(kernelName, 'webgpu')?.kernelFunc).not.toBe(ours);
    } finally {
      installWebGpuOverrides();
    }
    expect(tf.getKernel(kernelName, 'webgpu')?.kernelFunc.toString()).toBe(ours?.toString());
  });

  it('is what a conv2d layer runs', async () => {
    const profile = await tf.profile(() => {
      const layer = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', inputShape: [6, 6, 2] });
      const y = layer.apply(tf.ones([1, 6, 6, 2])) as tf.Tensor;
      y.dispose();
      layer.dispose();
    });
    expect(profile.kernels.map((k) => k.name)).toContain('FusedConv2D');
  });
});
