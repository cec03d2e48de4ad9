/**
 * The data-movement kernels of the generator's sub-pixel upsample + conv (libs/model/src/upsample-conv.ts)
 * on 'wasm' (any integer scale s ≥ 2): the 2×2 phase filter from the 3×3 one and its adjoint, and the phase interleave and its
 * adjoint. Plain loops over heap views; the convolutions between them are XNNPACK's (via the
 * project's Conv2D gradient kernels).
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { PHASE_DEINTERLEAVE, PHASE_INTERLEAVE, SUB_PIXEL_FILTER, SUB_PIXEL_FILTER_GRAD, subPixelPhaseOffset, subPixelTap } from '@facegan/model';
import { floatOffset, heapFloats, heapView } from './compose';

interface PhaseTaps {
  /** The 2×2 window's tap (u, v). */
  u: number;
  v: number;
  /** The phase's filter group s·a + c. */
  group: number;
  /** The flat 3×3 tap indices (t * 3 + s) summed into it (none for a middle phase's zero taps). */
  taps: number[];
}

const phaseTapsByScale = new Map<number, PhaseTaps[]>();

function phaseTaps(scale: number): PhaseTaps[] {
  let entries = phaseTapsByScale.get(scale);
  if (!entries) {
    entries = [];
    for (let u = 0; u < 2; u++) {
      for (let v = 0; v < 2; v++) {
        for (let a = 0; a < scale; a++) {
          for (let c = 0; c < scale; c++) {
            const taps: number[] = [];
            for (let t = 0; t < 3; t++) {
              for (let s = 0; s < 3; s++) {
                if (subPixelTap(scale, a, t) === u && subPixelTap(scale, c, s) === v) taps.push(t * 3 + s);
              }
            }
            entries.push({ u, v, group: scale * a + c, taps });
          }
        }
      }
    }
    phaseTapsByScale.set(scale, entries);
  }
  return entries;
}

/**
 * w [3, 3, ci, co] -> k [2, 2, ci, s²·co]: k[u, v, i, (s·a + c)·co + o] = sum of w[t, s', i, o] over the taps
 * t, s' that phase (a, c) sums into (u, v) (subPixelTap).
 */
export function phaseFilter(w: Float32Array, inChannels: number, outChannels: number, k: Float32Array, scale = 2): void {
  const block = inChannels * outChannels;
  const depth = scale * scale * outChannels;
  for (const { u, v, group, taps } of phaseTaps(scale)) {
    const offsets = taps.map((t) => t * block);
    for (let i = 0; i < inChannels; i++) {
      const dst = ((u * 2 + v) * inChannels + i) * depth + group * outChannels;
      const src = i * outChannels;
      if (offsets.length === 0) {
        k.fill(0, dst, dst + outChannels);
      } else if (offsets.length === 1) {
        const [t0] = offsets;
        for (let o = 0; o < outChannels; o++) k[dst + o] = w[t0 + src + o];
      } else {
        for (let o = 0; o < outChannels; o++) {
          let sum = 0;
          for (const t of offsets) sum += w[t + src + o];
          k[dst + o] = sum;
        }
      }
    }
  }
}

/** The adjoint of phaseFilter: dk [2, 2, ci, s²·co] -> dw [3, 3, ci, co]. */
export function phaseFilterGrad(dk: Float32Array, inChannels: number, outChannels: number, dw: Float32Array, scale = 2): void {
  const block = inChannels * outChannels;
  const depth = scale * scale * outChannels;
  dw.fill(0, 0, 9 * block);
  for (const { u, v, group, taps } of phaseTaps(scale)) {
    for (const tap of taps) {
      for (let i = 0; i < inChannels; i++) {
        const src = ((u * 2 + v) * inChannels + i) * depth + group * outChannels;
        const dst = tap * block + i * outChannels;
        for (let o = 0; o < outChannels; o++) dw[dst + o] += dk[src + o];
      }
    }
  }
}

/**
 * z [b, h+1, w+1, s²·co] -> y [b, s·h, s·w, co]: y[n, s·i+a, s·j+c, o] = z[n, i+e(a), j+e(c), (s·a+c)·co + o],
 * both in `memory` (z from element zAt, y from yAt): each run of co values is one copyWithin (memmove),
 * 2.3× an element loop at co = 32.
 */
export function interleavePhases(memory: Float32Array, zAt: number, [batch, zh, zw, depth]: readonly number[], yAt: number, scale = 2): void {
  const co = depth / (scale * scale);
  const columns = phaseColumnOffsets(scale, zw - 1, depth, co);
  let dst = yAt;
  for (let n = 0; n < batch; n++) {
    for (let row = 0; row < scale * (zh - 1); row++) {
      const a = row % scale;
      const zRow = zAt + (n * zh + Math.floor(row / scale) + subPixelPhaseOffset(scale, a)) * zw * depth + scale * a * co;
      for (const column of columns) {
        memory.copyWithin(dst, zRow + column, zRow + column + co);
        dst += co;
      }
    }
  }
}

/** For each output column s·j + c: where its run of co values starts in a row of z, less the row phase's s·a·co. */
function phaseColumnOffsets(scale: number, width: number, depth: number, co: number): number[] {
  return Array.from({ length: scale * width }, (_, col) => {
    const c = col % scale;
    return (Math.floor(col / scale) + subPixelPhaseOffset(scale, c)) * depth + c * co;
  });
}

/** The adjoint of interleavePhases: dy [b, s·h, s·w, co] (from dyAt) -> dz [b, h+1, w+1, s²·co] (from dzAt), zeros where no output reads. */
export function deinterleavePhases(memory: Float32Array, dyAt: number, [batch, yh, yw, co]: readonly number[], dzAt: number, scale = 2): void {
  const zh = yh / scale + 1;
  const zw = yw / scale + 1;
  const depth = scale * scale * co;
  const columns = phaseColumnOffsets(scale, yw / scale, depth, co);
  memory.fill(0, dzAt, dzAt + batch * zh * zw * depth);
  let src = dyAt;
  for (let n = 0; n < batch; n++) {
    for (let row = 0; row < yh; row++) {
      const a = row % scale;
      const zRow = dzAt + (n * zh + Math.floor(row / scale) + subPixelPhaseOffset(scale, a)) * zw * depth + scale * a * co;
      for (const column of columns) {
        memory.copyWithin(zRow + column, src, src + co);
        src += co;
      }
    }
  }
}

function wasmKernel(kernelName: string, body: (backend: BackendWasm, inputs: Record<string, TensorInfo>, scale: number) => TensorInfo): KernelConfig {
  const kernelFunc: KernelFunc = (args) =>
    body(args.backend as BackendWasm, args.inputs as Record<string, TensorInfo>, (args.attrs as unknown as { scale: number }).scale);
  return { kernelName, backendName: 'wasm', kernelFunc };
}

export function createPhaseFilterKernel(): KernelConfig {
  return wasmKernel(SUB_PIXEL_FILTER, (backend, { filter }, scale) => {
    const [, , inChannels, outChannels] = filter.shape;
    const out = backend.makeOutput([2, 2, inChannels, scale * scale * outChannels], 'float32');
    phaseFilter(heapView(backend, filter), inChannels, outChannels, heapView(backend, out), scale);
    return out;
  });
}

export function createPhaseFilterGradKernel(): KernelConfig {
  return wasmKernel(SUB_PIXEL_FILTER_GRAD, (backend, { dFilter }, scale) => {
    const [, , inChannels, depth] = dFilter.shape;
    const outChannels = depth / (scale * scale);
    const out = backend.makeOutput([3, 3, inChannels, outChannels], 'float32');
    phaseFilterGrad(heapView(backend, dFilter), inChannels, outChannels, heapView(backend, out), scale);
    return out;
  });
}

export function createInterleaveKernel(): KernelConfig {
  return wasmKernel(PHASE_INTERLEAVE, (backend, { x }, scale) => {
    const [batch, zh, zw, depth] = x.shape;
    const out = backend.makeOutput([batch, scale * (zh - 1), scale * (zw - 1), depth / (scale * scale)], 'float32');
    interleavePhases(heapFloats(backend), floatOffset(backend, x), x.shape, floatOffset(backend, out), scale);
    return out;
  });
}

export function createDeinterleaveKernel(): KernelConfig {
  return wasmKernel(PHASE_DEINTERLEAVE, (backend, { dy }, scale) => {
    const [batch, yh, yw, co] = dy.shape;
    const out = backend.makeOutput([batch, yh / scale + 1, yw / scale + 1, scale * scale * co], 'float32');
    deinterleavePhases(heapFloats(backend), floatOffset(backend, dy), dy.shape, floatOffset(backend, out), scale);
    return out;
  });
}
