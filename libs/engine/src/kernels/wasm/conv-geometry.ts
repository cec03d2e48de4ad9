import { backend_util, type Conv2DBackpropFilterAttrs, type NamedAttrMap } from '@tensorflow/tfjs';

/**
 * Index arithmetic that turns the two Conv2D gradients into forward convolutions. Pure functions of
 * shapes, kept apart from the kernels so they can be reasoned about (and tested) on their own.
 *
 * Notation for one spatial axis: input size `n`, filter size `k`, stride `s`, padding before `p`,
 * dy size `o`. The forward conv reads x[i] with i = oi*s + t - p for output oi and filter tap t.
 */

/** How to compute dx along one axis as a stride-1 conv of dy followed by depth-to-space + crop. */
export interface InputGradAxisPlan {
  /** Taps of the sub-pixel filter: ceil(k / s). */
  taps: number;
  /** Explicit padding of the stride-1 conv over dy. */
  padBefore: number;
  padAfter: number;
  /** Output length of that conv; depth-to-space makes it `length * s`. */
  length: number;
  /** Offset of dx inside the depth-to-space result (then `n` elements are kept). */
  cropOffset: number;
}

/**
 * dx[i] = sum over (oi, t) with oi*s + t = i + p of dy[oi] * w[t].
 *
 * Sub-pixel decomposition: write i + p = q*s + r (0 <= r < s). The taps that reach phase r are
 * t = m*s + r, and then oi = q - m, so dx at phase r is a plain correlation of dy with the
 * sub-filter w_r[m] = w[m*s + r], m < ceil(k/s), read backwards. Stacking the s phases as output
 * channels gives ONE stride-1 conv over dy whose result, reshuffled by depth-to-space, is dx up to a
 * crop. For s = 1 this is the classic "conv of dy with the flipped filter, padding k-1-p".
 * Only q in [floor(p/s), floor((p+n-1)/s)] is computed. Returns null when that would need negative
 * padding (explicit pads larger than the filter), which the caller hands to the stock kernel.
 */
export function planInputGradAxis(n: number, k: number, s: number, p: number, o: number): InputGradAxisPlan | null {
  const taps = Math.ceil(k / s);
  const qFirst = Math.floor(p / s);
  const qLast = Math.floor((p + n - 1) / s);
  const length = qLast - qFirst + 1;
  // Conv output index j stands for q = qFirst + j and reads dy[q - (taps-1) + m'] for m' < taps.
  const padBefore = taps - 1 - qFirst;
  const padAfter = length + taps - 1 - o - padBefore;
  if (padBefore < 0 || padAfter < 0) return null;
  return { taps, padBefore, padAfter, length, cropOffset: p - qFirst * s };
}

/** How to compute dW along one axis as a dilated conv of x (channels as batch) with dy as filter. */
export interface FilterGradAxisPlan {
  /** Leading input elements actually read; trailing ones that no window touches are dropped. */
  used: number;
  padBefore: number;
  padAfter: number;
}

/**
 * dW[t] = sum over oi of x[oi*s + t - p] * dy[oi]: a correlation of x with dy dilated by s whose
 * output (one per tap t) has length k. The windows read x over [-p, (o-1)*s + k - p); the part
 * past the end of x becomes padAfter, rows of x beyond it are never read and are cropped.
 */
export function planFilterGradAxis(n: number, k: number, s: number, p: number, o: number): FilterGradAxisPlan {
  const end = (o - 1) * s + k - p;
  const used = Math.min(n, end);
  return { used, padBefore: p, padAfter: end - used };
}

/**
 * The sub-pixel filter for {@link planInputGradAxis}, from w [kh, kw, inC, outC] (HWIO) to
 * g [tapsH, tapsW, outC, sH*sW*inC]: g[a, b, co, (rh*sW + rw)*inC + ci] = w[(tapsH-1-a)*sH + rh,
 * (tapsW-1-b)*sW + rw, ci, co], zero where that tap is outside the filter. Channel order (rh, rw, ci)
 * is the one depth-to-space (NHWC) expects.
 */
export function subPixelFilter(
  w: Float32Array,
  [kh, kw, inC, outC]: readonly number[],
  sH: number,
  sW: number,
  g: Float32Array,
): void {
  const tapsH = Math.ceil(kh / sH);
  const tapsW = Math.ceil(kw / sW);
  const gOut = sH * sW * inC;
  g.fill(0);
  for (let a = 0; a < tapsH; a++) {
    for (let rh = 0; rh < sH; rh++) {
      const th = (tapsH - 1 - a) * sH + rh;
      if (th >= kh) continue;
      for (let b = 0; b < tapsW; b++) {
        for (let rw = 0; rw < sW; rw++) {
          const tw = (tapsW - 1 - b) * sW + rw;
          if (tw >= kw) continue;
          const gBase = (a * tapsW + b) * outC * gOut + (rh * sW + rw) * inC;
          const wBase = (th * kw + tw) * inC * outC;
          for (let ci = 0; ci < inC; ci++) {
            const wRow = wBase + ci * outC;
            for (let co = 0; co < outC; co++) g[gBase + co * gOut + ci] = w[wRow + co];
          }
        }
      }
    }
  }
}

/**
 * The flat "padded grid" that turns a stride-1 filter gradient into 9-ish plain matrix products (one
 * per filter tap) over zero-copy shifted views; see conv2d-backprop-filter.ts.
 *
 * Every image is laid out as `gridHeight` rows of `gridWidth` positions: its own pixels at (h, w),
 * h < height, w < width, and zeros in the `gridWidth - width` columns that end each row and the
 * `gridHeight - height` rows that end each image. Images follow each other, with `margin` zero
 * positions before the first and after the last: `length` positions in all. Because the zero
 * columns are shared by a row's right edge and the next row's left edge (likewise the zero rows
 * between images), moving from an output position by a filter tap is adding a constant
 * `tapOffsets[t]` to the flat index: out-of-image reads land on zeros.
 */
export interface FilterGradGrid {
  gridHeight: number;
  gridWidth: number;
  /** Positions per image: gridHeight * gridWidth. */
  imageLength: number;
  margin: number;
  /** Positions in all: 2 * margin + batch * imageLength. */
  length: number;
  /** Flat offset of tap (th, tw), row-major over the filter: (th - padTop) * gridWidth + (tw - padLeft). */
  tapOffsets: number[];
}

export interface StrideOneFilterGradShape {
  batch: number;
  height: number;
  width: number;
  outHeight: number;
  outWidth: number;
  filterHeight: number;
  filterWidth: number;
  padTop: number;
  padBottom: number;
  padLeft: number;
  padRight: number;
}

/**
 * The grid for a stride-1 convolution, or null when its pads are too large for the shared zero
 * rows/columns to hold the output (pads over filter size - 1 on both sides: left to the other path).
 */
export function planFilterGradGrid(s: StrideOneFilterGradShape): FilterGradGrid | null {
  const zeroRows = Math.max(s.padTop, s.padBottom);
  const zeroColumns = Math.max(s.padLeft, s.padRight);
  const gridHeight = s.height + zeroRows;
  const gridWidth = s.width + zeroColumns;
  // the output positions must fit in an image's grid (the dy values live there too)
  if (s.outHeight > gridHeight || s.outWidth > gridWidth || s.outHeight < 1 || s.outWidth < 1) return null;
  const tapOffsets: number[] = [];
  for (let th = 0; th < s.filterHeight; th++) {
    for (let tw = 0; tw < s.filterWidth; tw++) tapOffsets.push((th - s.padTop) * gridWidth + (tw - s.padLeft));
  }
  const margin = Math.max(...tapOffsets.map(Math.abs));
  const imageLength = gridHeight * gridWidth;
  return { gridHeight, gridWidth, imageLength, margin, length: 2 * margin + s.batch * imageLength, tapOffsets };
}

/** The geometry of an NHWC convolution with dilation 1, the only kind the project's wasm gradient kernels take. */
export function channelsLastConvInfo(
  kernelName: string,
  inputShape: [number, number, number, number],
  filterShape: [number, number, number, number],
  attrs: Pick<Conv2DBackpropFilterAttrs, 'strides' | 'pad' | 'dimRoundingMode'>,
): backend_util.Conv2DInfo {
  const conv = backend_util.computeConv2DInfo(inputShape, filterShape, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode, false, 'channelsLast');
  if (conv.dilationHeight !== 1 || conv.dilationWidth !== 1) throw new Error(`wasm ${kernelName}: dilation must be 1`);
  return conv;
}

/** Attributes of the stride-1 NHWC forward convolution both gradient kernels run, padded per axis plan. */
export function strideOneConvAttrs(
  rows: { padBefore: number; padAfter: number },
  cols: { padBefore: number; padAfter: number },
  dilations: number | [number, number],
): NamedAttrMap {
  const pad = [[0, 0], [rows.padBefore, rows.padAfter], [cols.padBefore, cols.padAfter], [0, 0]];
  return { strides: 1, pad, dataFormat: 'NHWC', dilations } as unknown as NamedAttrMap;
}
