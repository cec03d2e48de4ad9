import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { gemmTileKey, specializeShader, type GemmTile, type GemmVariant } from './conv-gemm';
import { planTile } from './gemm-tiles';
import { autotuneGemms, gemmTuningTotals, planBackpropFilter, clearGemmTuning, formatGemmTuning, GEMM_VARIANTS, gemmTuning, initWebGpu, loadGemmTuning, recordGemmProblems, saveGemmTuning, setGemmTuning } from './index';
import { gemmTolerance, maxAbsDifference, programsRun, randomValues, seededRandom, valuesOn, webGpuForTests } from './test-support';

const webGpu = await webGpuForTests();

describe('GEMM_VARIANTS', () => {
  it('are the eight combinations of tile size, vec4 staging and prefetch', () => {
    expect(new Set(GEMM_VARIANTS.map((v) => JSON.stringify(v))).size).toBe(8);
  });

  it('gemmTuningTotals adds up the problems: ms in the chosen and default plans, FLOPs', () => {
    const result = (ms: number, defaultMs: number, flops: number) => ({ key: 'k', flops, variant: GEMM_VARIANTS[0], ms, defaultMs, candidates: 8, rejected: [] });
    expect(gemmTuningTotals([result(1, 2, 10), result(0.5, 4, 5)])).toEqual({ ms: 1.5, defaultMs: 6, flops: 15 });
    expect(gemmTuningTotals([])).toEqual({ ms: 0, defaultMs: 0, flops: 0 });
    const double = { ...result(1, 2, 10), variant: { large: true, vector: true, prefetch: true, double: true, specialize: true } };
    expect(formatGemmTuning([double])).toContain('large+vec4+double+const');
  });

  it("a large variant's shape keeps 8 outputs per thread along M only (tall) or N only (wide)", () => {
    const variant = { large: true, vector: true, prefetch: false };
    expect(planTile(524288, 128, 1, variant)).toMatchObject({ rowsPerThread: 8, colsPerThread: 8 });
    expect(planTile(524288, 128, 1, { ...variant, shape: 'tall' })).toMatchObject({ rowsPerThread: 8, colsPerThread: 4, vector: true });
    expect(planTile(524288, 128, 1, { ...variant, shape: 'wide' })).toMatchObject({ rowsPerThread: 4, colsPerThread: 8 });
    expect(planBackpropFilter(1152, 128, 100000, undefined, { ...variant, shape: 'wide' })).toMatchObject({ rowsPerThread: 4, colsPerThread: 8 });
  });

  it('specializeShader puts the geometry into the shader as constants, and keys the shader by it', () => {
    const code = () => 'let h = uniforms.xShape.y; let hh = uniforms.xShape.yy; let s = uniforms.strides.x * uniforms.dimN; if (m < uniforms.dimM) {}';
    const tile = { rowsPerThread: 4, colsPerThread: 4 };
    expect(specializeShader(tile, { 'xShape.y': 9, dimN: 130 }, code)).toMatchObject({ keySuffix: '' });
    expect(specializeShader(tile, { 'xShape.y': 9, dimN: 130 }, code).getUserCode()).toBe(code());
    const specialized = specializeShader({ ...tile, specialize: true }, { 'xShape.y': 9, 'strides.x': 2, dimN: 130 }, code);
    expect(specialized.getUserCode()).toBe('let h = 9; let hh = uniforms.xShape.yy; let s = 2 * 130; if (m < uniforms.dimM) {}');
    expect(specialized.keySuffix).toBe('_sp130_2_9');
    expect(() => specializeShader({ ...tile, specialize: true }, { dimM: 5 }, code)).toThrow(/dimM stays a uniform/);
  });

  it("a filter gradient's splitScale scales its split-K count", () => {
    const variant = { large: true, vector: false, prefetch: false };
    const base = planBackpropFilter(1152, 128, 100000, undefined, variant);
    const more = planBackpropFilter(1152, 128, 100000, undefined, { ...variant, splitScale: 4 });
    const fewer = planBackpropFilter(1152, 128, 100000, undefined, { ...variant, splitScale: 0.25 });
    expect(base.splits).toBeGreaterThan(50);
    expect(more.splits / base.splits).toBeGreaterThan(3.5);
    expect(fewer.splits / base.splits).toBeLessThan(0.3);
    expect(planBackpropFilter(1152, 128, 100000, undefined, { ...variant, splitScale: 1e-6 }).splits).toBe(1);
  });
});

describe.skipIf(!webGpu.available)(`autotuning the convolution GEMMs ${webGpu.skipReason}`, () => {
  beforeAll(async () => {
    await initWebGpu();
  });
  afterEach(() => clearGemmTuning());

  // Wide enough (70 → 130 channels, 2·9·10 pixels) that tile sizes, vec4 staging and prefetch give distinct plans.
  const xShape: [number, number, number, number] = [2, 9, 10, 70];
  const filterShape: [number, number, number, number] = [3, 3, 70, 130];
  const random = seededRandom(5);
  const xValues = randomValues(tf.util.sizeFromShape(xShape), random);
  const filterValues = randomValues(tf.util.sizeFromShape(filterShape), random);
  const dyValues = randomValues(2 * 9 * 10 * 130, random);

  /** A convolution's output and both its gradients, concatenated: one forward and two backward GEMMs (stride 2 unless asked). */
  const convAndGradients = (stride: 1 | 2 = 2): tf.Tensor =>
    tf.tidy(() => {
      const x = tf.tensor4d(xValues, xShape);
      const filter = tf.tensor4d(filterValues, filterShape);
      const dyShape: [number, number, number, number] = stride === 2 ? [2, 5, 5, 130] : [2, 9, 10, 130];
      const dy = tf.tensor4d(dyValues.subarray(0, tf.util.sizeFromShape(dyShape)), dyShape);
      const f = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, 'same'), dy));
      const [dx, dFilter] = tf.grads(f)([x, filter]);
      return tf.concat([tf.conv2d(x, filter, stride, 'same').flatten(), dx.flatten(), dFilter.flatten()]);
    });

  it('records each GEMM problem a step runs, once, and only while recording', async () => {
    const { result, problems } = recordGemmProblems(() => {
      const first = convAndGradients();
      first.dispose();
      return convAndGradients();
    });
    result.dispose();
    expect(problems.map((p) => p.key.split(' ')[0]).sort()).toEqual(['backprop-filter', 'backprop-input', 'forward']);
    expect(problems.find((p) => p.key.startsWith('forward'))?.inputShapes).toEqual([xShape, filterShape]);
    // not recording: nothing is kept
    convAndGradients().dispose();
    expect(recordGemmProblems(() => 0).problems).toEqual([]);
  });

  it('times every distinct plan, keeps the fastest, and the kernels run it from then on with the same results', async () => {
    const reference = await valuesOn('cpu', () => convAndGradients());
    const untuned = await valuesOn('webgpu', () => convAndGradients());
    const { result, problems } = recordGemmProblems(() => convAndGradients());
    result.dispose();

    const results = await autotuneGemms(problems, { rounds: 1, callsPerRound: 1 });
    expect(results.map((r) => r.key).sort()).toEqual(problems.map((p) => p.key).sort());
    const filterProblem = problems.find((p) => p.key.startsWith('backprop-filter'));
    const filterResult = results.find((r) => r.key.startsWith('backprop-filter'));
    const plansOf = (variants: readonly GemmVariant[]) => new Set(variants.map((v) => JSON.stringify(filterProblem?.plan(v)))).size;
    expect(filterResult?.candidates).toBeGreaterThanOrEqual(plansOf(GEMM_VARIANTS) + 1);
    for (const r of results) {
      expect(r.rejected).toEqual([]);
      // large only matters along dimensions over 64 and vec4 only for counts that are multiples of 4, so
      // fewer than 8 plans can be distinct; but this geometry has at least the two main-loop variants
      expect(r.candidates).toBeGreaterThanOrEqual(2);
      // then a large winner also as 128×64 and 64×128 tiles, and the filter gradient's winner with 4× and ¼ the
      // split-K count (here 1 split: ¼ is the same plan)
      // then the winner with double tiles, and last with its geometry as shader constants
      expect(r.candidates).toBeLessThanOrEqual(r.key.startsWith('backprop-filter') ? 14 : 12);
      expect(r.ms).toBeGreaterThan(0);
      expect(r.ms).toBeLessThanOrEqual(r.defaultMs);
    }
    expect(gemmTuning().map((t) => t.key).sort()).toEqual(results.map((r) => r.key).sort());
    expect(formatGemmTuning(results)).toContain(`all 3 problems`);
    // the three GEMMs of one convolution: 2·(2·5·5 outputs)·130·(9·70) FLOPs each
    expect(results.map((r) => r.flops)).toEqual([1, 2, 3].map(() => 2 * 2 * 5 * 5 * 130 * 9 * 70));
    expect(formatGemmTuning(results)).toMatch(/GFLOP\/s/);
    // tuned problems are not recorded again
    const again = recordGemmProblems(() => convAndGradients());
    again.result.dispose();
    expect(again.problems).toEqual([]);

    const shaderKeys = await programsRun(() => valuesOn('webgpu', () => convAndGradients()));
    for (const r of results) {
      const problem = problems.find((p) => p.key === r.key);
      const tile = problem?.plan(r.variant) as GemmTile;
      expect(shaderKeys.some((key) => key.endsWith(gemmTileKey(tile)) || key.includes(`${gemmTileKey(tile)}_`))).toBe(true);
    }
    const tuned = await valuesOn('webgpu', () => convAndGradients());
    // dimK of the largest sum: the filter gradient's 2·5·5 pixels, the forward's 9·70, the input gradient's 9·130
    expect(maxAbsDifference(tuned, reference)).toBeLessThanOrEqual(gemmTolerance(9 * 130, reference));
    expect(maxAbsDifference(tuned, untuned)).toBeLessThanOrEqual(gemmTolerance(9 * 130, reference));
  });

  it('never chooses a plan whose result disagrees with the default plan (e.g. one the driver miscompiles)', async () => {
    const { result, problems } = recordGemmProblems(() => convAndGradients());
    result.dispose();
    // the prefetch plans "compute" on zeros: wrong results, and quick ones
    const zeros = problems.map((p) => p.inputShapes.map((shape) => tf.zeros(shape)));
    const broken = problems.map((p, i) => ({ ...p, run: (b: WebGPUBackend, inputs: tf.TensorInfo[], v: GemmVariant | undefined) => p.run(b, v?.prefetch ? zeros[i] : inputs, v) }));
    try {
      const results = await autotuneGemms(broken, { rounds: 1, callsPerRound: 1 });
      expect(results).toHaveLength(3);
      for (const r of results) {
        expect(r.variant.prefetch).toBe(false);
        expect(r.rejected.length).toBeGreaterThanOrEqual(1);
        expect(r.rejected.every((v) => v.prefetch)).toBe(true);
        expect(formatGemmTuning([r])).toContain('wrong results, left out: ');
      }
    } finally {
      for (const list of zeros) for (const t of list) t.dispose();
    }
  });

  it('saves the choices and reads them back for the same adapter only; a broken file reads as nothing', () => {
    const folder = mkdtempSync(join(tmpdir(), 'facegan-tuning-'));
    try {
      const file = join(folder, 'nested', 'tuning.json');
      const choices = [
        { key: 'forward a', variant: { large: true, vector: false, prefetch: true } },
        { key: 'backprop-filter b', variant: { large: false, vector: true, prefetch: false, splitScale: 4 } },
        { key: 'backprop-input c', variant: { large: true, shape: 'wide' as const, vector: true, prefetch: true, double: true } },
      ];
      setGemmTuning(choices);
      saveGemmTuning(file);
      clearGemmTuning();
      expect(loadGemmTuning(file)).toBe(3);
      expect(gemmTuning()).toEqual(choices);

      clearGemmTuning();
      const saved = JSON.parse(readFileSync(file, 'utf8'));
      writeFileSync(file, JSON.stringify({ ...saved, device: 'another card' }));
      expect(loadGemmTuning(file)).toBe(0);
      writeFileSync(file, '{"version": 1, "entr');
      expect(loadGemmTuning(file)).toBe(0);
      expect(loadGemmTuning(join(folder, 'missing.json'))).toBe(0);
      const badSplits = { key: 'y', variant: { large: true, vector: true, prefetch: true, splitScale: -1 } };
      writeFileSync(file, JSON.stringify({ ...saved, entries: [{ key: 'x', variant: { large: 'yes' } }, badSplits, saved.entries[0]] }));
      expect(loadGemmTuning(file)).toBe(1);
      expect(gemmTuning()).toEqual([choices[0]]);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it.each([
    { stride: 2 as const, variant: { large: false, vector: true, prefetch: true }, tiles: ['4_4_v4_pf', '4_4_v4_pf', '4_4_v4_pf'] },
    { stride: 2 as const, variant: { large: true, shape: 'tall' as const, vector: true, prefetch: false }, tiles: ['4_4_v4', '4_4_v4', '8_4_v4'] },
    { stride: 2 as const, variant: { large: true, shape: 'wide' as const, vector: false, prefetch: true }, tiles: ['4_8_pf', '4_8_pf', '4_8_pf'] },
    { stride: 2 as const, variant: { large: true, vector: true, prefetch: true, specialize: true }, tiles: ['4_8_v4_pf_sp', '4_8_v4_pf_sp', '8_8_v4_pf_sp'] },
    { stride: 1 as const, variant: { large: true, vector: false, prefetch: false, specialize: true }, tiles: ['8_8_sp', '8_8_sp', '8_8_sp'] },
    { stride: 2 as const, variant: { large: true, vector: true, prefetch: false, double: true }, tiles: ['4_8_v4_pf_db', '4_8_v4_pf_db', '8_8_v4_pf_db'] },
    // the input gradient's own workgroup variable leaves no room for 128×128 double tiles: single ones, with prefetch
    { stride: 1 as const, variant: { large: true, vector: false, prefetch: false, double: true }, tiles: ['8_8_pf_db', '8_8_pf', '8_8_pf_db'] },
  ])('runs a variant set from elsewhere (e.g. a saved tuning), right: stride $stride, $variant', async ({ stride, variant, tiles }) => {
    const reference = await valuesOn('cpu', () => convAndGradients(stride));
    const { result, problems } = recordGemmProblems(() => convAndGradients(stride));
    result.dispose();
    setGemmTuning(problems.map((p) => ({ key: p.key, variant })));
    let values: Float32Array = new Float32Array();
    const shaderKeys = await programsRun(async () => {
      values = await valuesOn('webgpu', () => convAndGradients(stride));
    });
    const gemmKeys = shaderKeys.filter((key) => /^facegan(Forward|BackpropInput|BackpropFilter)\w*Gemm_/.test(key));
    // forward (twice: for the output and inside tf.grads), input gradient, filter gradient; a specialized shader's
    // key ends with its geometry
    const [forward, input, filter] = tiles;
    const kernel = (key: string) => key.replace(/_(true|false)(_sp[\d_]+)?$/, '').replace(/(_sp)_sp[\d_]+$/, '$1');
    expect(gemmKeys.map(kernel).sort()).toEqual(
      [`faceganBackpropFilterGemm_${filter}`, `faceganBackpropInputGemm_${input}`, `faceganForwardConvGemm_${forward}`, `faceganForwardConvGemm_${forward}`],
    );
    if (variant.specialize) for (const key of gemmKeys) expect(key).toMatch(/_sp[\d_]+$/);
    expect(maxAbsDifference(values, reference)).toBeLessThanOrEqual(gemmTolerance(9 * 130, reference));
  });
});
