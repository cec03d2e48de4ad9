import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initWebGpu, setGemmDoubleBuffer, setGemmPrefetch, setGemmVectorTiles } from './index';
import { convOutSize, gemmTolerance, maxAbsDifference, randomValues, seededRandom, valuesOn, webGpuForTests, GEMM_MODES } from './test-support';

const webGpu = await webGpuForTests();

interface Case {
  batch: number;
  height: number;
  width: number;
  inChannels: number;
  outChannels: number;
  filterHeight: number;
  filterWidth: number;
  strides: [number, number];
  pad: 'same' | 'valid';
}

const square = (c: Omit<Case, 'filterWidth' | 'strides'> & { stride: number }): Case => ({
  ...c,
  filterWidth: c.filterHeight,
  strides: [c.stride, c.stride],
});

const fixedCases: Case[] = [
  square({ batch: 2, height: 8, width: 8, inChannels: 3, outChannels: 4, filterHeight: 3, stride: 1, pad: 'same' }),
  // The discriminator's stride-2 layers: 'same' on even sizes pads bottom/right only.
  square({ batch: 2, height: 8, width: 8, inChannels: 5, outChannels: 6, filterHeight: 3, stride: 2, pad: 'same' }),
  square({ batch: 2, height: 9, width: 7, inChannels: 5, outChannels: 6, filterHeight: 3, stride: 2, pad: 'same' }),
  square({ batch: 1, height: 11, width: 13, inChannels: 1, outChannels: 1, filterHeight: 3, stride: 2, pad: 'valid' }),
  square({ batch: 3, height: 7, width: 5, inChannels: 40, outChannels: 33, filterHeight: 3, stride: 1, pad: 'valid' }),
  square({ batch: 2, height: 6, width: 6, inChannels: 40, outChannels: 17, filterHeight: 1, stride: 1, pad: 'same' }),
  // A 1×1 filter with stride 2: three of the four phases have no taps and must come out zero.
  square({ batch: 2, height: 7, width: 6, inChannels: 9, outChannels: 5, filterHeight: 1, stride: 2, pad: 'valid' }),
  square({ batch: 1, height: 10, width: 9, inChannels: 7, outChannels: 3, filterHeight: 5, stride: 2, pad: 'same' }),
  square({ batch: 2, height: 10, width: 11, inChannels: 4, outChannels: 6, filterHeight: 4, stride: 3, pad: 'same' }),
  { batch: 2, height: 9, width: 8, inChannels: 6, outChannels: 7, filterHeight: 3, filterWidth: 2, strides: [2, 1], pad: 'same' },
  // The generator's last layer: 3 output channels, many input channels.
  square({ batch: 2, height: 8, width: 8, inChannels: 70, outChannels: 3, filterHeight: 3, stride: 1, pad: 'same' }),
];

function randomCases(count: number, seed: number): Case[] {
  const random = seededRandom(seed);
  const pick = (low: number, high: number) => low + Math.floor(random() * (high - low + 1));
  return Array.from({ length: count }, () => {
    const filter = random() < 0.7 ? 3 : pick(1, 4);
    const stride = pick(1, 2);
    return {
      batch: pick(1, 3),
      height: pick(filter, 12),
      width: pick(filter, 12),
      inChannels: pick(1, 40),
      outChannels: pick(1, 40),
      filterHeight: filter,
      filterWidth: filter,
      strides: [stride, stride] as [number, number],
      pad: random() < 0.5 ? ('same' as const) : ('valid' as const),
    };
  });
}

function caseTensors(c: Case, seed: number) {
  const random = seededRandom(seed);
  const inputShape = [c.batch, c.height, c.width, c.inChannels] as [number, number, number, number];
  const dyShape = [
    c.batch,
    convOutSize(c.height, c.filterHeight, c.strides[0], c.pad),
    convOutSize(c.width, c.filterWidth, c.strides[1], c.pad),
    c.outChannels,
  ] as [number, number, number, number];
  const filterShape = [c.filterHeight, c.filterWidth, c.inChannels, c.outChannels] as [number, number, number, number];
  return {
    inputShape,
    dyShape,
    filterShape,
    dyValues: randomValues(tf.util.sizeFromShape(dyShape), random),
    filterValues: randomValues(tf.util.sizeFromShape(filterShape), random),
    dimK: c.filterHeight * c.filterWidth * c.outChannels,
  };
}

function runBackpropInput(c: Case, data: ReturnType<typeof caseTensors>): tf.Tensor {
  const attrs = { inputShape: data.inputShape, strides: c.strides, pad: c.pad, dataFormat: 'NHWC', dimRoundingMode: undefined };
  return tf.engine().runKernel(
    tf.Conv2DBackpropInput,
    { dy: tf.tensor4d(data.dyValues, data.dyShape), filter: tf.tensor4d(data.filterValues, data.filterShape) },
    attrs as unknown as tf.NamedAttrMap,
  ) as tf.Tensor;
}

describe.skipIf(!webGpu.available).each(GEMM_MODES)(`Conv2DBackpropInput implicit GEMM on webgpu, $name ${webGpu.skipReason}`, ({ vector, prefetch, double }) => {
  beforeAll(async () => {
    await initWebGpu();
    setGemmVectorTiles(vector);
    setGemmPrefetch(prefetch);
    setGemmDoubleBuffer(double);
  });
  afterAll(() => {
    setGemmVectorTiles(true);
    setGemmPrefetch(false);
    setGemmDoubleBuffer(false);
  });

  // the prefetch modes (a different loop, not different index maths) on the fixed cases only: shorter on lavapipe
  const cases = prefetch ? fixedCases : [...fixedCases, ...randomCases(14, 11)];
  it.each(cases.map((c, i) => [i, c] as const))('case %i matches the cpu backend: %o', async (index, c) => {
    const data = caseTensors(c, 2000 + index);
    const reference = await valuesOn('cpu', () => runBackpropInput(c, data));
    const got = await valuesOn('webgpu', () => runBackpropInput(c, data));
    expect(maxAbsDifference(got, reference)).toBeLessThanOrEqual(gemmTolerance(data.dimK, reference));
  });

  it('is what tf.grad of conv2d uses for the input (stride 2, as in the discriminator)', async () => {
    const c = fixedCases[1];
    const data = caseTensors(c, 5);
    const xValues = randomValues(tf.util.sizeFromShape(data.inputShape), seededRandom(6));
    const gradient = () => {
      const filter = tf.tensor4d(data.filterValues, data.filterShape);
      return tf.grad((x: tf.Tensor) => tf.sum(tf.square(tf.conv2d(x as tf.Tensor4D, filter, 2, 'same'))))(
        tf.tensor4d(xValues, data.inputShape),
      );
    };
    const reference = await valuesOn('cpu', gradient);
    const got = await valuesOn('webgpu', gradient);
    expect(maxAbsDifference(got, reference)).toBeLessThanOrEqual(gemmTolerance(data.dimK, reference) * 10);
  });
});
