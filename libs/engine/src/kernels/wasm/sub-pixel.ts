/**
 * The data-movement kernels of the generator's sub-pixel upsample + conv (libs/model/src/upsample-conv.ts)
 * on 'wasm' (any integer scale s ≥ 2, the phases in up to four groups by window shape): a group's phase
 * filter from the 3×3 one and its adjoint, the interleave of the groups' phases and a group's share of its
 * adjoint. Plain loops over heap views; the convolutions between them are XNNPACK's (via the project's
 * Conv2D gradient kernels).
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import {
  axisPhases,
  PHASE_DEINTERLEAVE,
  PHASE_INTERLEAVE,
  phaseAxis,
  phaseGroup,
  SUB_PIXEL_FILTER,
  SUB_PIXEL_FILTER_GRAD,
  subPixelTap,
  type PhaseGroup,
} from '@facegan/model';
import { floatOffset, heapFloats, heapView } from './compose';

interface PhaseTaps {
  /** The group filter's flat tap (u·filterWidth + v). */
  window: number;
  /** The phase's output block p within the group. */
  block: number;
  /** The flat 3×3 tap indices (t * 3 + s) summed into it. */
  taps: number[];
}

const phaseTapsCache = new Map<string, PhaseTaps[]>();

function phaseTaps(scale: number, g: PhaseGroup): PhaseTaps[] {
  const key = `${scale}/${g.group}`;
  let entries = phaseTapsCache.get(key);
  if (!entries) {
    entries = [];
    const rowPhases = axisPhases(scale, g.rowEdge);
    const colPhases = axisPhases(scale, g.colEdge);
    for (let u = 0; u < g.filterHeight; u++) {
      for (let v = 0; v < g.filterWidth; v++) {
        rowPhases.forEach((a, ia) =>
          colPhases.forEach((c, ic) => {
            const taps: number[] = [];
            for (let t = 0; t < 3; t++) {
              for (let s = 0; s < 3; s++) {
                if (subPixelTap(scale, a, t) === u && subPixelTap(scale, c, s) === v) taps.push(t * 3 + s);
              }
            }
            entries?.push({ window: u * g.filterWidth + v, block: ia * g.cols + ic, taps });
          }),
        );
      }
    }
    phaseTapsCache.set(key, entries);
  }
  return entries;
}

/**
 * w [3, 3, ci, co] -> group g's filter k [kh, kw, ci, phases·co]: k[u, v, i, p·co + o] = sum of w[t, s', i, o]
 * over the taps t, s' that phase block p sums into window tap (u, v) (subPixelTap).
 */
export function phaseFilter(w: Float32Array, inChannels: number, outChannels: number, k: Float32Array, scale = 2, group = 0): void {
  const g = phaseGroup(scale, group);
  const block = inChannels * outChannels;
  const depth = g.rows * g.cols * outChannels;
  for (const { window, block: p, taps } of phaseTaps(scale, g)) {
    const offsets = taps.map((t) => t * block);
    for (let i = 0; i < inChannels; i++) {
      const dst = (window * inChannels + i) * depth + p * outChannels;
      const src = i * outChannels;
      for (let o = 0; o < outChannels; o++) {
        let sum = 0;
        for (const t of offsets) sum += w[t + src + o];
        k[dst + o] = sum;
      }
    }
  }
}

/** The adjoint of phaseFilter: group g's dk [kh, kw, ci, phases·co] -> dw [3, 3, ci, co]. */
export function phaseFilterGrad(dk: Float32Array, inChannels: number, outChannels: number, dw: Float32Array, scale = 2, group = 0): void {
  const g = phaseGroup(scale, group);
  const block = inChannels * outChannels;
  const depth = g.rows * g.cols * outChannels;
  dw.fill(0, 0, 9 * block);
  for (const { window, block: p, taps } of phaseTaps(scale, g)) {
    for (const tap of taps) {
      for (let i = 0; i < inChannels; i++) {
        const src = (window * inChannels + i) * depth + p * outChannels;
        const dst = tap * block + i * outChannels;
        for (let o = 0; o < outChannels; o++) dw[dst + o] += dk[src + o];
      }
    }
  }
}

/** A group's phase tensor z_g [b, h (+1), w (+1), phases·co] in the heap. */
export interface GroupPhases {
  group: number;
  /** Its first element in the heap's float view. */
  at: number;
}

/**
 * For each output row of phase kind `rowEdge` and each output column: where its run of co values starts in
 * that row's group tensor (less the row's own part), and which group. Rows of one kind read two groups.
 */
function columnPlan(scale: number, width: number, co: number, rowEdge: boolean): { group: number; offset: number; column: number }[] {
  return Array.from({ length: scale * width }, (_, col) => {
    const c = col % scale;
    const axis = phaseAxis(scale, c);
    const g = phaseGroup(scale, (rowEdge ? 0 : 2) + (axis.edge ? 0 : 1));
    const depth = g.rows * g.cols * co;
    return { group: g.group, offset: (Math.floor(col / scale) + axis.offset) * depth + axis.index * co, column: col };
  });
}

/**
 * The groups' phases -> y [b, s·h, s·w, co]: y[n, s·i+a, s·j+c, o] = z_g[n, i+e(a), j+e(c), p·co + o] for the
 * group g and block p of phase (a, c), all in `memory`. Each run of co values is one copyWithin (memmove),
 * 2.3× an element loop at co = 32. (The reverse, `deinterleave`, copies the other way, for one group.)
 */
export function interleavePhases(memory: Float32Array, groups: readonly GroupPhases[], yShape: readonly number[], yAt: number, scale = 2): void {
  forEachRun(groups, yShape, scale, (zAt, yOffset, co) => memory.copyWithin(yAt + yOffset, zAt, zAt + co));
}

/** The adjoint of interleavePhases for one group: dy [b, s·h, s·w, co] (from dyAt) -> dz_g (from dzAt), zeros where no output reads. */
export function deinterleavePhases(memory: Float32Array, dyAt: number, yShape: readonly number[], dz: GroupPhases, scale = 2): void {
  const [batch, yh, yw, co] = yShape;
  const g = phaseGroup(scale, dz.group);
  const size = batch * (yh / scale + (g.rowEdge ? 1 : 0)) * (yw / scale + (g.colEdge ? 1 : 0)) * g.rows * g.cols * co;
  memory.fill(0, dz.at, dz.at + size);
  forEachRun([dz], yShape, scale, (zAt, yOffset) => memory.copyWithin(zAt, dyAt + yOffset, dyAt + yOffset + co));
}

/** Calls `copy(z element, y element offset, co)` for each run of co values of y that `groups` hold. */
function forEachRun(
  groups: readonly GroupPhases[],
  [batch, yh, yw, co]: readonly number[],
  scale: number,
  copy: (zAt: number, yOffset: number, co: number) => void,
): void {
  const h = yh / scale;
  const w = yw / scale;
  const at = new Map(groups.map((g) => [g.group, g.at]));
  const plans = [columnPlan(scale, w, co, true), columnPlan(scale, w, co, false)].map((plan) => plan.filter(({ group }) => at.has(group)));
  const geometry = [0, 1, 2, 3].map((group) => {
    const g = phaseGroup(scale, group);
    return { zh: h + (g.rowEdge ? 1 : 0), zw: w + (g.colEdge ? 1 : 0), depth: g.rows * g.cols * co, cols: g.cols };
  });
  const rowStart = new Float64Array(4);
  for (let n = 0; n < batch; n++) {
    for (let row = 0; row < yh; row++) {
      const a = row % scale;
      const axis = phaseAxis(scale, a);
      // (one group's deinterleave skips the rows of the other kind)
      const plan = plans[axis.edge ? 0 : 1];
      if (plan.length === 0) continue;
      // the row's start in each group present
      for (const [group, groupAt] of at) {
        const { zh, zw, depth, cols } = geometry[group];
        rowStart[group] = groupAt + (n * zh + Math.floor(row / scale) + axis.offset) * zw * depth + axis.index * cols * co;
      }
      const rowOffset = (n * yh + row) * yw * co;
      for (const { group, offset, column } of plan) copy(rowStart[group] + offset, rowOffset + column * co, co);
    }
  }
}

interface SubPixelAttrs {
  scale: number;
  group: number;
}

function wasmKernel(kernelName: string, body: (backend: BackendWasm, inputs: Record<string, TensorInfo>, attrs: SubPixelAttrs) => TensorInfo): KernelConfig {
  const kernelFunc: KernelFunc = (args) =>
    body(args.backend as BackendWasm, args.inputs as Record<string, TensorInfo>, args.attrs as unknown as SubPixelAttrs);
  return { kernelName, backendName: 'wasm', kernelFunc };
}

export function createPhaseFilterKernel(): KernelConfig {
  return wasmKernel(SUB_PIXEL_FILTER, (backend, { filter }, { scale, group }) => {
    const [, , inChannels, outChannels] = filter.shape;
    const g = phaseGroup(scale, group);
    const out = backend.makeOutput([g.filterHeight, g.filterWidth, inChannels, g.rows * g.cols * outChannels], 'float32');
    phaseFilter(heapView(backend, filter), inChannels, outChannels, heapView(backend, out), scale, group);
    return out;
  });
}

export function createPhaseFilterGradKernel(): KernelConfig {
  return wasmKernel(SUB_PIXEL_FILTER_GRAD, (backend, { dFilter }, { scale, group }) => {
    const [, , inChannels, depth] = dFilter.shape;
    const g = phaseGroup(scale, group);
    const outChannels = depth / (g.rows * g.cols);
    const out = backend.makeOutput([3, 3, inChannels, outChannels], 'float32');
    phaseFilterGrad(heapView(backend, dFilter), inChannels, outChannels, heapView(backend, out), scale, group);
    return out;
  });
}

/** Inputs g0 … g3 (the groups with phases). */
export function createInterleaveKernel(): KernelConfig {
  return wasmKernel(PHASE_INTERLEAVE, (backend, inputs, { scale }) => {
    const corners = inputs['g0'];
    const [batch, zh, zw, depth] = corners.shape;
    const co = depth / 4;
    const out = backend.makeOutput([batch, scale * (zh - 1), scale * (zw - 1), co], 'float32');
    const groups = [0, 1, 2, 3].filter((group) => inputs[`g${group}`] !== undefined).map((group) => ({ group, at: floatOffset(backend, inputs[`g${group}`]) }));
    interleavePhases(heapFloats(backend), groups, out.shape, floatOffset(backend, out), scale);
    return out;
  });
}

export function createDeinterleaveKernel(): KernelConfig {
  return wasmKernel(PHASE_DEINTERLEAVE, (backend, { dy }, { scale, group }) => {
    const [batch, yh, yw, co] = dy.shape;
    const g = phaseGroup(scale, group);
    const out = backend.makeOutput([batch, yh / scale + (g.rowEdge ? 1 : 0), yw / scale + (g.colEdge ? 1 : 0), g.rows * g.cols * co], 'float32');
    deinterleavePhases(heapFloats(backend), floatOffset(backend, dy), dy.shape, { group, at: floatOffset(backend, out) }, scale);
    return out;
  });
}

