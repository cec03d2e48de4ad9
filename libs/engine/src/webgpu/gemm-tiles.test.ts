import * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backpropFilterGemm, backpropInputGemm, forwardConvGemm, gemmTileLimit, gemmVectorTiles, initWebGpu, planBackpropFilter, setGemmDoubleBuffer, setGemmPrefetch, setGemmTileLimit, setGemmVectorTiles } from './index';
import { gemmTileKey } from './conv-gemm';
import { planTile } from './gemm-tiles';
import { maxAbs, maxAbsDifference, randomValues, seededRandom, valuesOn, webGpuForTests, GEMM_MODES } from './test-support';

const webGpu = await webGpuForTests();

describe('planTile', () => {
  afterAll(() => setGemmTileLimit(8));

  it('stays at 4×4 with the limit at 4', () => {
    setGemmTileLimit(4);
    expect(planTile(524288, 128)).toEqual({ rowsPerThread: 4, colsPerThread: 4, vector: true, prefetch: false });
    expect(planBackpropFilter(1152, 128, 1000)).toMatchObject({ rowsPerThread: 4, colsPerThread: 4 });
  });

  it('takes 8 along dimensions over 64 with the limit at 8 (the default), where the grid stays full', () => {
    setGemmTileLimit(8);
    expect(gemmTileLimit()).toBe(8);
    expect(planTile(524288, 128)).toMatchObject({ rowsPerThread: 8, colsPerThread: 8 });
    expect(planTile(524288, 32)).toMatchObject({ rowsPerThread: 8, colsPerThread: 2 });
    // 81 × 4 workgroups at 8×8: too few for a large GPU, so 64×64 tiles.
    expect(planTile(128 * 81, 512)).toMatchObject({ rowsPerThread: 4, colsPerThread: 4 });
    expect(planBackpropFilter(1152, 128, 100000)).toMatchObject({ rowsPerThread: 8, colsPerThread: 8 });
  });

  it('plans vec4 tiles by default, and only where both counts are multiples of 4; scalar ones when asked; prefetch when asked', () => {
    setGemmTileLimit(8);
    expect(gemmVectorTiles()).toBe(true);
    setGemmVectorTiles(false);
    expect(planTile(524288, 128).vector).toBe(false);
    setGemmVectorTiles(true);
    try {
      expect(planTile(524288, 128)).toEqual({ rowsPerThread: 8, colsPerThread: 8, vector: true, prefetch: false });
      expect(planTile(128 * 81, 512)).toMatchObject({ rowsPerThread: 4, colsPerThread: 4, vector: true });
      expect(planTile(524288, 32).vector).toBe(false);
      expect(planBackpropFilter(1152, 128, 100000)).toMatchObject({ rowsPerThread: 8, colsPerThread: 8, vector: true });
      expect(planBackpropFilter(27, 32, 100000).vector).toBe(false);
      setGemmPrefetch(true);
      expect(planTile(524288, 32)).toMatchObject({ vector: false, prefetch: true });
      expect(planBackpropFilter(1152, 128, 100000)).toMatchObject({ vector: true, prefetch: true });
      // double tiles always read the next K-tile during the multiply
      setGemmPrefetch(false);
      setGemmDoubleBuffer(true);
      expect(planTile(524288, 128)).toMatchObject({ double: true, prefetch: true });
      expect(gemmTileKey(planTile(524288, 128))).toBe('8_8_v4_pf_db');
    } finally {
      setGemmVectorTiles(true);
      setGemmPrefetch(false);
      setGemmDoubleBuffer(false);
    }
  });
});

/**
 * The three convolution GEMMs with 128×128 tiles (8×8 outputs per thread), forced on tiny shapes.
 * Tolerance as in their own tests: 2e-6·√K relative to the largest |result|; measured on lavapipe: max
 * error ≤ 1.2e-6 × max|result|.
 */
describe.skipIf(!webGpu.available).each(GEMM_MODES)(`convolution GEMMs with 8×8 outputs per thread, $name ${webGpu.skipReason}`, ({ vector, prefetch, double }) => {
  beforeAll(async () => {
    await initWebGpu();
    setGemmTileLimit(8, 1);
    setGemmVectorTiles(vector);
    setGemmPrefetch(prefetch);
    setGemmDoubleBuffer(double);
  });
  afterAll(() => {
    setGemmTileLimit(8);
    setGemmVectorTiles(true);
    setGemmPrefetch(false);
    setGemmDoubleBuffer(false);
  });

  const random = seededRandom(61);
  const shapes = { batch: 2, height: 9, width: 10, inChannels: 70, outChannels: 130 };
  const x = randomValues(shapes.batch * shapes.height * shapes.width * shapes.inChannels, random);
  const filter = randomValues(9 * shapes.inChannels * shapes.outChannels, random);
  const bias = randomValues(shapes.outChannels, random);
  const xShape: [number, number, number, number] = [shapes.batch, shapes.height, shapes.width, shapes.inChannels];
  const filterShape: [number, number, number, number] = [3, 3, shapes.inChannels, shapes.outChannels];
  const backend = () => tf.backend() as WebGPUBackend;
  const asTensor = (info: tf.TensorInfo) => tf.engine().makeTensorFromTensorInfo(info);
  const check = (got: Float32Array, reference: Float32Array, dimK: number) =>
    expect(maxAbsDifference(got, reference)).toBeLessThanOrEqual(2e-6 * Math.sqrt(dimK) * Math.max(1, maxAbs(reference)));

  it.each([1, 2])('forward, stride %i', async (stride) => {
    const reference = await valuesOn('cpu', () =>
      tf.fused.conv2d({ x: tf.tensor4d(x, xShape), filter: tf.tensor4d(filter, filterShape), strides: stride, pad: 'same', bias: tf.tensor1d(bias) }),
    );
    const got = await valuesOn('webgpu', () =>
      asTensor(
        forwardConvGemm(backend(), { x: tf.tensor4d(x, xShape), filter: tf.tensor4d(filter, filterShape), bias: tf.tensor1d(bias), strides: stride, pad: 'same' }),
      ),
    );
    check(got, reference, 9 * shapes.inChannels);
  });

  it.each([1, 2])('backprop input, stride %i', async (stride) => {
    const outSize = (n: number) => Math.ceil(n / stride);
    const dyShape: [number, number, number, number] = [shapes.batch, outSize(shapes.height), outSize(shapes.width), shapes.outChannels];
    const dy = randomValues(tf.util.sizeFromShape(dyShape), seededRandom(stride));
    const reference = await valuesOn('cpu', () => tf.conv2dTranspose(tf.tensor4d(dy, dyShape), tf.tensor4d(filter, filterShape), xShape, stride, 'same'));
    const got = await valuesOn('webgpu', () =>
      asTensor(backpropInputGemm(backend(), { dy: tf.tensor4d(dy, dyShape), filter: tf.tensor4d(filter, filterShape), inputShape: xShape, strides: stride, pad: 'same' })),
    );
    check(got, reference, 9 * shapes.outChannels);
  });

  it('backprop filter', async () => {
    const smallX: [number, number, number, number] = [2, 9, 10, 70];
    const dyShape: [number, number, number, number] = [2, 9, 10, 130];
    const dy = randomValues(tf.util.sizeFromShape(dyShape), seededRandom(9));
    // dW of Σ conv2d(x, W)·dy is the backprop-filter of dy.
    const reference = await valuesOn('cpu', () =>
      tf.grad((f: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(tf.tensor4d(x, smallX), f as tf.Tensor4D, 1, 'same'), tf.tensor4d(dy, dyShape))))(
        tf.zeros(filterShape),
      ),
    );
    const got = await valuesOn('webgpu', () =>
      asTensor(backpropFilterGemm(backend(), { x: tf.tensor4d(x, smallX), dy: tf.tensor4d(dy, dyShape), filterShape, strides: 1, pad: 'same', splits: 2 })),
    );
    check(got, reference, 2 * 9 * 10);
  });
});
