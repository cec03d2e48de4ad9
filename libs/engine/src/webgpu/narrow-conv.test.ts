import * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { NARROW_BLOCKED_VARIANT, NARROW_TAPS_VARIANT, NARROW_VARIANT, type GemmVariant } from './conv-gemm';
import { backpropFilterGemm, backpropInputGemm, clearGemmTuning, forwardConvGemm, initWebGpu, recordGemmProblems, setGemmTuning } from './index';
import { convOutSize, gemmTolerance, maxAbsDifference, programsRun, randomValues, seededRandom, valuesOn, webGpuForTests } from './test-support';

const webGpu = await webGpuForTests();

/**
 * narrow-conv.ts's one-thread-per-output kernels (GemmVariant.narrow) against the cpu backend: channel counts
 * that take the vec4 path (a multiple of 4) and the scalar one, 1 to 4 output channels, strides 1 and 2,
 * 'same' and 'valid' padding, with and without bias; each in the one-output kernels and the blocked ones
 * (which fall back to the former where their shape does not allow them: output rows not a multiple of 4
 * pixels, input channels not a multiple of 4).
 */
const CASES = [
  { name: 'vec4 reads, 3 outputs, stride 1, same, bias', x: [2, 9, 10, 16], co: 3, stride: 1, pad: 'same' as const, bias: true },
  { name: 'scalar reads, 3 outputs, stride 2, same', x: [2, 9, 10, 6], co: 3, stride: 2, pad: 'same' as const, bias: false },
  { name: 'vec4 reads, 1 output, stride 2, valid', x: [3, 8, 7, 8], co: 1, stride: 2, pad: 'valid' as const, bias: true },
  { name: 'scalar reads, 4 outputs, stride 1, valid', x: [1, 6, 6, 3], co: 4, stride: 1, pad: 'valid' as const, bias: false },
  { name: 'vec4 reads, 3 outputs, stride 1, same, bias, rows of 8', x: [2, 5, 8, 8], co: 3, stride: 1, pad: 'same' as const, bias: true },
  { name: 'vec4 reads, 2 outputs, stride 2, valid, rows of 4', x: [2, 7, 9, 12], co: 2, stride: 2, pad: 'valid' as const, bias: false },
  { name: 'vec4 reads, 3 outputs, stride 2, same, rows of 8', x: [3, 6, 16, 4], co: 3, stride: 2, pad: 'same' as const, bias: false },
].flatMap((c) => [
  { ...c, variant: NARROW_VARIANT as GemmVariant, kernels: 'one output' },
  { ...c, variant: NARROW_BLOCKED_VARIANT, kernels: 'blocked' },
  { ...c, variant: NARROW_TAPS_VARIANT, kernels: 'taps (a 1x1 GEMM and the taps rearranged)' },
]);

describe.skipIf(!webGpu.available).each(CASES)(`narrow convolution kernels, $name, $kernels ${webGpu.skipReason}`, ({ x: shape, co, stride, pad, bias, variant }) => {
  beforeAll(async () => {
    await initWebGpu();
  });

  const xShape = shape as [number, number, number, number];
  const filterShape: [number, number, number, number] = [3, 3, xShape[3], co];
  const dyShape: [number, number, number, number] = [xShape[0], convOutSize(xShape[1], 3, stride, pad), convOutSize(xShape[2], 3, stride, pad), co];
  const random = seededRandom(xShape[3] * 10 + co);
  const x = randomValues(tf.util.sizeFromShape(xShape), random);
  const filter = randomValues(tf.util.sizeFromShape(filterShape), random);
  const biasValues = randomValues(co, random);
  const dy = randomValues(tf.util.sizeFromShape(dyShape), random);
  const backend = () => tf.backend() as WebGPUBackend;
  const asTensor = (info: tf.TensorInfo) => tf.engine().makeTensorFromTensorInfo(info);

  it('forward', async () => {
    const args = () => ({ x: tf.tensor4d(x, xShape), filter: tf.tensor4d(filter, filterShape), strides: stride, pad });
    const reference = await valuesOn('cpu', () => tf.fused.conv2d({ ...args(), bias: bias ? tf.tensor1d(biasValues) : undefined }));
    let got: Float32Array = new Float32Array();
    const programs = await programsRun(async () => {
      got = await valuesOn('webgpu', () => asTensor(forwardConvGemm(backend(), { ...args(), bias: bias ? tf.tensor1d(biasValues) : undefined }, variant)));
    });
    const blockedApplies = variant.blocked === true && xShape[3] % 4 === 0 && dyShape[2] % 4 === 0;
    expect(programs.some((key) => key.startsWith('faceganNarrowBlockedForwardConv_'))).toBe(blockedApplies);
    expect(programs.some((key) => key.startsWith('faceganNarrowTapsSum_'))).toBe(variant.taps === true);
    expect(got.length).toBe(reference.length);
    expect(maxAbsDifference(got, reference)).toBeLessThanOrEqual(gemmTolerance(9 * xShape[3], reference));
  });

  it('input gradient (with the roles of the channel counts swapped: ≤ 4 input channels)', async () => {
    // a convolution from `co` channels to xShape[3]: its dx has co ≤ 4 channels
    const inShape: [number, number, number, number] = [xShape[0], xShape[1], xShape[2], co];
    const wShape: [number, number, number, number] = [3, 3, co, xShape[3]];
    const outShape: [number, number, number, number] = [xShape[0], dyShape[1], dyShape[2], xShape[3]];
    const w = randomValues(tf.util.sizeFromShape(wShape), seededRandom(7));
    const g = randomValues(tf.util.sizeFromShape(outShape), seededRandom(8));
    const reference = await valuesOn('cpu', () => tf.conv2dTranspose(tf.tensor4d(g, outShape), tf.tensor4d(w, wShape), inShape, stride, pad));
    const got = await valuesOn('webgpu', () =>
      asTensor(backpropInputGemm(backend(), { dy: tf.tensor4d(g, outShape), filter: tf.tensor4d(w, wShape), inputShape: inShape, strides: stride, pad }, NARROW_VARIANT)),
    );
    expect(got.length).toBe(reference.length);
    expect(maxAbsDifference(got, reference)).toBeLessThanOrEqual(gemmTolerance(9 * xShape[3], reference));
  });

  it('filter gradient', async () => {
    const reference = await valuesOn('cpu', () =>
      tf.grad((f: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(tf.tensor4d(x, xShape), f as tf.Tensor4D, stride, pad), tf.tensor4d(dy, dyShape))))(tf.zeros(filterShape)),
    );
    let got: Float32Array = new Float32Array();
    const programs = await programsRun(async () => {
      got = await valuesOn('webgpu', () =>
        asTensor(backpropFilterGemm(backend(), { x: tf.tensor4d(x, xShape), dy: tf.tensor4d(dy, dyShape), filterShape, strides: stride, pad }, variant)),
      );
    });
    if (variant.taps) {
      expect(programs.some((key) => key.startsWith('faceganNarrowTapsSpread_'))).toBe(true);
    } else {
      const lanes = variant.blocked === true && xShape[3] % 4 === 0 ? 4 : 1;
      expect(programs.filter((key) => key.startsWith('faceganNarrowFilterGrad_')).every((key) => key.endsWith(`_${lanes}`))).toBe(true);
      expect(programs.some((key) => key.startsWith('faceganNarrowFilterGrad_'))).toBe(true);
    }
    expect(maxAbsDifference(got, reference)).toBeLessThanOrEqual(gemmTolerance(tf.util.sizeFromShape(dyShape) / co, reference));
  });
});

describe.skipIf(!webGpu.available)(`narrow kernels across batch sizes ${webGpu.skipReason}`, () => {
  beforeAll(async () => {
    await initWebGpu();
  });

  // the shaders bake the geometry in; what depends on the batch must not be shared between batch sizes
  it.each([2, 5, 3])('filter gradient and forward, batch %i, after the others', async (batch) => {
    const xShape: [number, number, number, number] = [batch, 6, 7, 8];
    const filterShape: [number, number, number, number] = [3, 3, 8, 3];
    const dyShape: [number, number, number, number] = [batch, 6, 7, 3];
    const x = randomValues(tf.util.sizeFromShape(xShape), seededRandom(batch));
    const dy = randomValues(tf.util.sizeFromShape(dyShape), seededRandom(batch + 10));
    const filter = randomValues(tf.util.sizeFromShape(filterShape), seededRandom(1));
    const backend = () => tf.backend() as WebGPUBackend;
    const asTensor = (info: tf.TensorInfo) => tf.engine().makeTensorFromTensorInfo(info);
    const reference = await valuesOn('cpu', () =>
      tf.grad((f: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(tf.tensor4d(x, xShape), f as tf.Tensor4D, 1, 'same'), tf.tensor4d(dy, dyShape))))(tf.zeros(filterShape)),
    );
    const got = await valuesOn('webgpu', () =>
      asTensor(backpropFilterGemm(backend(), { x: tf.tensor4d(x, xShape), dy: tf.tensor4d(dy, dyShape), filterShape, strides: 1, pad: 'same' }, NARROW_VARIANT)),
    );
    expect(maxAbsDifference(got, reference)).toBeLessThanOrEqual(gemmTolerance(batch * 42, reference));
    const forwardReference = await valuesOn('cpu', () => tf.conv2d(tf.tensor4d(x, xShape), tf.tensor4d(filter, filterShape), 1, 'same'));
    const forward = await valuesOn('webgpu', () =>
      asTensor(forwardConvGemm(backend(), { x: tf.tensor4d(x, xShape), filter: tf.tensor4d(filter, filterShape), strides: 1, pad: 'same' }, NARROW_VARIANT)),
    );
    expect(maxAbsDifference(forward, forwardReference)).toBeLessThanOrEqual(gemmTolerance(72, forwardReference));
  });
});

describe.skipIf(!webGpu.available)(`narrow kernels as tuning candidates ${webGpu.skipReason}`, () => {
  beforeAll(async () => {
    await initWebGpu();
  });

  const candidatesFor = (outChannels: number, inChannels = 8, width = 6) => {
    const x = tf.randomNormal([2, 6, width, inChannels]);
    const filter = tf.randomNormal([3, 3, inChannels, outChannels]);
    const { result, problems } = recordGemmProblems(() =>
      tf.tidy(() => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same')))([x, filter])),
    );
    for (const t of [...result, x, filter]) t.dispose();
    const label = (v: GemmVariant) => (v.narrow ? (v.taps ? 'taps' : v.blocked ? 'blocked' : 'narrow') : 'tiled');
    return Object.fromEntries(problems.map((p) => [p.key.split(' ')[0], (p.extraCandidates ?? []).map(label)]));
  };

  it('for the forward convolution and filter gradient of at most 4 output channels, the input gradient of at most 4 input channels', () => {
    expect(candidatesFor(3)).toEqual({ forward: ['narrow', 'taps'], 'backprop-input': [], 'backprop-filter': ['narrow', 'blocked', 'taps'] });
    // rows of 8 output pixels: the blocked forward kernel too
    expect(candidatesFor(3, 8, 8)).toEqual({ forward: ['narrow', 'blocked', 'taps'], 'backprop-input': [], 'backprop-filter': ['narrow', 'blocked', 'taps'] });
    // 6 input channels: no vec4 reads, no blocked kernels
    expect(candidatesFor(3, 6, 8)).toEqual({ forward: ['narrow', 'taps'], 'backprop-input': [], 'backprop-filter': ['narrow', 'taps'] });
    expect(candidatesFor(8)).toEqual({ forward: [], 'backprop-input': [], 'backprop-filter': [] });
    // the input gradient's N is the input channels
    expect(candidatesFor(8, 3)).toEqual({ forward: [], 'backprop-input': ['narrow'], 'backprop-filter': [] });
  });

  it.each([
    { variant: NARROW_VARIANT, program: 'faceganNarrowForwardConv_' },
    { variant: NARROW_BLOCKED_VARIANT, program: 'faceganNarrowBlockedForwardConv_' },
    { variant: NARROW_TAPS_VARIANT, program: 'faceganNarrowTapsSum_' },
  ])('chosen by the tuning, it is what the kernels run from then on ($program)', async ({ variant, program }) => {
    const x = tf.randomNormal([2, 6, 8, 8]);
    const filter = tf.randomNormal([3, 3, 8, 3]);
    const run = () => tf.tidy(() => tf.conv2d(x as tf.Tensor4D, filter as tf.Tensor4D, 1, 'same'));
    const { result, problems } = recordGemmProblems(run);
    result.dispose();
    const reference = await run().data();
    setGemmTuning(problems.map((p) => ({ key: p.key, variant })));
    try {
      let values: Float32Array = new Float32Array();
      const keys = await programsRun(async () => {
        const narrow = run();
        values = (await narrow.data()) as Float32Array;
        narrow.dispose();
      });
      expect(keys.some((key) => key.startsWith(program))).toBe(true);
      expect(maxAbsDifference(values, reference)).toBeLessThan(1e-4);
    } finally {
      clearGemmTuning();
      x.dispose();
      filter.dispose();
    }
  });
});
