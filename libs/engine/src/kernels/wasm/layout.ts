/**
 * Layout moves done in plain JS on wasm-heap views. The stock wasm Transpose / DepthToSpace kernels
 * walk every element through generic index math (DepthToSpace: ~48 ms for 1M floats on the 2-core
 * box; Transpose of [32,32,32,64] by [3,1,2,0]: ~29 ms); these loops copy contiguous runs instead.
 */

/**
 * x [b, h, w, c] -> out [c, rows, cols, b] keeping rows [0, rows) and columns [0, cols): channels to
 * the batch axis, batch to the channel axis. Loop order keeps reads contiguous (c innermost) while
 * the c destination lines being filled (consecutive b) stay few and hot.
 */
export function nhwcToCHWN(
  x: Float32Array,
  [batch, height, width, channels]: readonly number[],
  rows: number,
  cols: number,
  out: Float32Array,
): void {
  const outChannelStride = rows * cols * batch;
  for (let h = 0; h < rows; h++) {
    for (let w = 0; w < cols; w++) {
      const outPixel = (h * cols + w) * batch;
      for (let b = 0; b < batch; b++) {
        const src = ((b * height + h) * width + w) * channels;
        let dst = outPixel + b;
        for (let c = 0; c < channels; c++, dst += outChannelStride) out[dst] = x[src + c];
      }
    }
  }
}

/** dy [b, h, w, c] -> out [h, w, b, c] (runs of c copied whole). */
export function nhwcToHWNC(dy: Float32Array, [batch, height, width, channels]: readonly number[], out: Float32Array): void {
  for (let h = 0; h < height; h++) {
    for (let w = 0; w < width; w++) {
      const dst = (h * width + w) * batch * channels;
      for (let b = 0; b < batch; b++) {
        const src = ((b * height + h) * width + w) * channels;
        out.set(dy.subarray(src, src + channels), dst + b * channels);
      }
    }
  }
}

/** part [ci, kh, kw, co] -> out [kh, kw, ci, co] (HWIO filter layout). */
export function chwoToHWIO(part: Float32Array, [inC, kh, kw, outC]: readonly number[], out: Float32Array): void {
  for (let ci = 0; ci < inC; ci++) {
    for (let t = 0; t < kh * kw; t++) {
      const src = (ci * kh * kw + t) * outC;
      out.set(part.subarray(src, src + outC), (t * inC + ci) * outC);
    }
  }
}

/**
 * Depth-to-space (NHWC, block `s`) fused with a crop: z [b, lh, lw, s*s*c] holds, at channel group
 * (rh*s + rw), the pixel (qh*s + rh, qw*s + rw) of y [b, lh*s, lw*s, c]; writes
 * out [b, outH, outW, c] = y[:, offH:offH+outH, offW:offW+outW, :].
 */
export function depthToSpaceCrop(
  z: Float32Array,
  [batch, lh, lw, depth]: readonly number[],
  s: number,
  offH: number,
  offW: number,
  out: Float32Array,
  outH: number,
  outW: number,
): void {
  const c = depth / (s * s);
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < outH; i++) {
      const yh = i + offH;
      const qh = Math.floor(yh / s);
      const rh = yh - qh * s;
      const zRow = (b * lh + qh) * lw;
      const outRow = (b * outH + i) * outW * c;
      for (let j = 0; j < outW; j++) {
        const yw = j + offW;
        const qw = Math.floor(yw / s);
        const src = (zRow + qw) * depth + (rh * s + (yw - qw * s)) * c;
        const dst = outRow + j * c;
        for (let k = 0; k < c; k++) out[dst + k] = z[src + k];
      }
    }
  }
}

/** Where the pixels of a [b, h, w, c] tensor go on a filter-gradient grid (see planFilterGradGrid). */
export interface GridPlacement {
  gridWidth: number;
  imageLength: number;
  margin: number;
  length: number;
}

/**
 * src [b, h, w, c] -> out [c][length] plus `margin` zeros before and after (c * length + 2 * margin
 * values): channel ci's row starts at margin + ci * length and holds pixel (b, y, x) at grid position
 * margin + b * imageLength + y * gridWidth + x, zeros elsewhere. The outer margins let shifted views
 * of the first and last rows read zeros. Reads run contiguously; the c destination rows are filled
 * side by side.
 */
export function toChannelMajorGrid(
  src: Float32Array,
  [batch, height, width, channels]: readonly number[],
  grid: GridPlacement,
  out: Float32Array,
): void {
  out.fill(0);
  const { gridWidth, imageLength, margin, length } = grid;
  let s = 0;
  for (let b = 0; b < batch; b++) {
    for (let y = 0; y < height; y++) {
      const rowStart = 2 * margin + b * imageLength + y * gridWidth;
      for (let x = 0; x < width; x++) {
        let d = rowStart + x;
        for (let c = 0; c < channels; c++, d += length) out[d] = src[s++];
      }
    }
  }
}

/** src [b, h, w, c] -> out [length][c]: pixel (b, y, x) at grid position margin + b * imageLength + y * gridWidth + x, zeros elsewhere. */
export function toRowMajorGrid(
  src: Float32Array,
  [batch, height, width, channels]: readonly number[],
  grid: GridPlacement,
  out: Float32Array,
): void {
  out.fill(0);
  const { gridWidth, imageLength, margin } = grid;
  const run = width * channels;
  for (let b = 0; b < batch; b++) {
    for (let y = 0; y < height; y++) {
      const from = ((b * height + y) * width) * channels;
      out.set(src.subarray(from, from + run), (margin + b * imageLength + y * gridWidth) * channels);
    }
  }
}
