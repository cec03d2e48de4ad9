/**
 * The data-movement kernels of the generator's sub-pixel upsample + conv (libs/model/src/upsample-conv.ts)
 * on 'wasm': the 2×2 phase filter from the 3×3 one and its adjoint, and the phase interleave and its
 * adjoint. Plain loops over heap views; the convolutions between them are XNNPACK's (via the
 * project's Conv2D gradient kernels).
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { PHASE_DEINTERLEAVE, PHASE_INTERLEAVE, SUB_PIXEL_FILTER, SUB_PIXEL_FILTER_GRAD, SUB_PIXEL_TAPS } from '@facegan/model';
import { floatOffset, heapFloats, heapView } from './compose';

/** Per (u, v, a, c) of the phase filter: the flat 3×3 tap indices (t * 3 + s) it sums. */
const PHASE_TAPS: { u: number; v: number; group: number; taps: number[] }[] = [];
for (let u = 0; u < 2; u++) {
  for (let v = 0; v < 2; v++) {
    for (let a = 0; a < 2; a++) {
      for (let c = 0; c < 2; c++) {
        const taps = SUB_PIXEL_TAPS[a][u].flatMap((t) => SUB_PIXEL_TAPS[c][v].map((s) => t * 3 + s));
        PHASE_TAPS.push({ u, v, group: 2 * a + c, taps });
      }
    }
  }
}

/** w [3, 3, ci, co] -> k [2, 2, ci, 4·co]: k[u, v, i, (2a + c)·co + o] = sum of w[t, s, i, o] over t in TAPS[a][u], s in TAPS[c][v]. */
export function phaseFilter(w: Float32Array, inChannels: number, outChannels: number, k: Float32Array): void {
  const block = inChannels * outChannels;
  for (const { u, v, group, taps } of PHASE_TAPS) {
    const [t0, t1 = -1, t2 = -1, t3 = -1] = taps.map((t) => t * block);
    for (let i = 0; i < inChannels; i++) {
      const dst = ((u * 2 + v) * inChannels + i) * 4 * outChannels + group * outChannels;
      const src = i * outChannels;
      // one, two or four taps
      if (t1 < 0) {
        for (let o = 0; o < outChannels; o++) k[dst + o] = w[t0 + src + o];
      } else if (t2 < 0) {
        for (let o = 0; o < outChannels; o++) k[dst + o] = w[t0 + src + o] + w[t1 + src + o];
      } else {
        for (let o = 0; o < outChannels; o++) k[dst + o] = w[t0 + src + o] + w[t1 + src + o] + (w[t2 + src + o] + w[t3 + src + o]);
      }
    }
  }
}

/** The adjoint of phaseFilter: dk [2, 2, ci, 4·co] -> dw [3, 3, ci, co]. */
export function phaseFilterGrad(dk: Float32Array, inChannels: number, outChannels: number, dw: Float32Array): void {
  const block = inChannels * outChannels;
  dw.fill(0, 0, 9 * block);
  for (const { u, v, group, taps } of PHASE_TAPS) {
    for (const tap of taps) {
      for (let i = 0; i < inChannels; i++) {
        const src = ((u * 2 + v) * inChannels + i) * 4 * outChannels + group * outChannels;
        const dst = tap * block + i * outChannels;
        for (let o = 0; o < outChannels; o++) dw[dst + o] += dk[src + o];
      }
    }
  }
}

/**
 * z [b, h+1, w+1, 4·co] -> y [b, 2h, 2w, co]: y[n, 2i+a, 2j+c, o] = z[n, i+a, j+c, (2a+c)·co + o], both in
 * `memory` (z from element zAt, y from yAt): each run of co values is one copyWithin (memmove), 2.3×
 * an element loop at co = 32.
 */
export function interleavePhases(memory: Float32Array, zAt: number, [batch, zh, zw, depth]: readonly number[], yAt: number): void {
  const co = depth / 4;
  const h = zh - 1;
  const w = zw - 1;
  let dst = yAt;
  for (let n = 0; n < batch; n++) {
    for (let row = 0; row < 2 * h; row++) {
      const a = row & 1;
      const zRow = (n * zh + (row >> 1) + a) * zw;
      for (let col = 0; col < 2 * w; col++) {
        const c = col & 1;
        const src = zAt + (zRow + (col >> 1) + c) * depth + (2 * a + c) * co;
        memory.copyWithin(dst, src, src + co);
        dst += co;
      }
    }
  }
}

/** The adjoint of interleavePhases: dy [b, 2h, 2w, co] (from dyAt) -> dz [b, h+1, w+1, 4·co] (from dzAt), zeros where no output reads. */
export function deinterleavePhases(memory: Float32Array, dyAt: number, [batch, yh, yw, co]: readonly number[], dzAt: number): void {
  const zh = yh / 2 + 1;
  const zw = yw / 2 + 1;
  const depth = 4 * co;
  memory.fill(0, dzAt, dzAt + batch * zh * zw * depth);
  let src = dyAt;
  for (let n = 0; n < batch; n++) {
    for (let row = 0; row < yh; row++) {
      const a = row & 1;
      const zRow = (n * zh + (row >> 1) + a) * zw;
      for (let col = 0; col < yw; col++) {
        const c = col & 1;
        const dst = dzAt + (zRow + (col >> 1) + c) * depth + (2 * a + c) * co;
        memory.copyWithin(dst, src, src + co);
        src += co;
      }
    }
  }
}

function wasmKernel(kernelName: string, body: (backend: BackendWasm, inputs: Record<string, TensorInfo>) => TensorInfo): KernelConfig {
  const kernelFunc: KernelFunc = (args) => body(args.backend as BackendWasm, args.inputs as Record<string, TensorInfo>);
  return { kernelName, backendName: 'wasm', kernelFunc };
}

export function createPhaseFilterKernel(): KernelConfig {
  return wasmKernel(SUB_PIXEL_FILTER, (backend, { filter }) => {
    const [, , inChannels, outChannels] = filter.shape;
    const out = backend.makeOutput([2, 2, inChannels, 4 * outChannels], 'float32');
    phaseFilter(heapView(backend, filter), inChannels, outChannels, heapView(backend, out));
    return out;
  });
}

export function createPhaseFilterGradKernel(): KernelConfig {
  return wasmKernel(SUB_PIXEL_FILTER_GRAD, (backend, { dFilter }) => {
    const [, , inChannels, depth] = dFilter.shape;
    const out = backend.makeOutput([3, 3, inChannels, depth / 4], 'float32');
    phaseFilterGrad(heapView(backend, dFilter), inChannels, depth / 4, heapView(backend, out));
    return out;
  });
}

export function createInterleaveKernel(): KernelConfig {
  return wasmKernel(PHASE_INTERLEAVE, (backend, { x }) => {
    const [batch, zh, zw, depth] = x.shape;
    const out = backend.makeOutput([batch, 2 * (zh - 1), 2 * (zw - 1), depth / 4], 'float32');
    interleavePhases(heapFloats(backend), floatOffset(backend, x), x.shape, floatOffset(backend, out));
    return out;
  });
}

export function createDeinterleaveKernel(): KernelConfig {
  return wasmKernel(PHASE_DEINTERLEAVE, (backend, { dy }) => {
    const [batch, yh, yw, co] = dy.shape;
    const out = backend.makeOutput([batch, yh / 2 + 1, yw / 2 + 1, 4 * co], 'float32');
    deinterleavePhases(heapFloats(backend), floatOffset(backend, dy), dy.shape, floatOffset(backend, out));
    return out;
  });
}
