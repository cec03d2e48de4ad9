/**
 * Conv2DBackpropFilter for 'wasm' (the stock backend has none), as XNNPACK matrix products:
 *
 *   dW[t, u, ci, co] = sum over (b, oh, ow) of x[b, oh*s + t - pT, ow*s + u - pL, ci] * dy[b, oh, ow, co]
 *
 * Stride 1 (every generator layer): one matrix product per filter tap over a padded flat "grid"
 * (planFilterGradGrid). Laid out on the grid, x and dy make the tap a constant shift of the flat
 * index, so for tap t
 *
 *   dW[t] [ci, co] = X[ci, q + offset_t] . DY[q, co]   (summed over every grid position q)
 *
 * with X channel-major and DY row-major: a BatchMatMul (XNNPACK fully-connected, ~30 GFLOP/s on one
 * thread here, and threaded when the backend has threads) whose left operand is a zero-copy view of X
 * starting offset_t further on. The right operand is the same for every tap, so XNNPACK packs it once
 * (its operator is cached on that tensor). When dy has few channels (the output layer's 3) and x
 * many, the roles swap (dy channel-major and shifted back by offset_t, x row-major): the packed
 * operand is then x, and the narrow one is never the 8-wide column side of XNNPACK's kernels.
 * Measured at the seed's 32 px width 0.25 batch 32 (one thread): 120 ms for all nine geometries
 * where the dilated convolution below took 166; the 32x32 64->32 layer 93 -> 54-63 ms.
 * This replaced a dilated convolution with dy as a 32x32 filter, which streamed its multi-MB packed
 * filter from memory for every few output pixels (13-20 GFLOP/s; 4.9 for the 32->3 layer).
 *
 * Other strides: that dilated convolution (x with channels moved to the batch axis,
 * x' = [ci, h, w, b], and dy' = [oh, ow, b, co] as the filter, dilated by the stride; its output
 * [ci, kh, kw, co] is dW up to a small transpose). The discriminator's strided layers are small.
 */
import {
  BatchMatMul,
  Conv2D,
  Conv2DBackpropFilter,
  type Conv2DBackpropFilterAttrs,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { heapView, withScratch, type Scratch } from './compose';
import { channelsLastConvInfo, strideOneConvAttrs, planFilterGradAxis, planFilterGradGrid, type FilterGradGrid } from './conv-geometry';
import { chwoToHWIO, nhwcToCHWN, nhwcToHWNC, toChannelMajorGrid, toRowMajorGrid } from './layout';

/**
 * Which operand is shifted (the left, channel-major one): 'x' puts ci rows against co columns,
 * 'dy' co rows against ci columns; the other one is XNNPACK's packed (right) operand.
 */
export type FilterGradRoles = 'x' | 'dy';

/**
 * The narrower operand is packed, unless it has under 8 channels (XNNPACK's column tile is 8 wide): then it
 * goes left. Measured on 2 threads (2026-11-27, this project's 2-core box), 'dy' against 'x' where dy is
 * the wider: the 96 px ×3 sub-pixel layer (128 → 9·128) 936/1022 against 1079/1125 ms, 16 → 32 px
 * (256 → 4·128) 224/232 against 275/266, the discriminator's 256 → 512 at 13×13 333/350 against
 * 377/354; and the other way where x is the wider (256 → 64 at 16×16: 'x' 57/56 ms, 'dy' 65/66).
 */
export function chooseFilterGradRoles(inChannels: number, outChannels: number): FilterGradRoles {
  if (Math.min(inChannels, outChannels) < 8) return outChannels < inChannels ? 'dy' : 'x';
  return outChannels > inChannels ? 'dy' : 'x';
}

/** Largest packed (fixed) operand per product: XNNPACK streams it from cache once per row tile of the other. */
const PACKED_OPERAND_BYTES = 1 << 20;

/**
 * Images per chunk of the stride-1 path: as many as keep the fixed operand (chunk grid length ×
 * its channels) within PACKED_OPERAND_BYTES, at least one.
 */
export function filterGradChunkImages(batch: number, grid: FilterGradGrid, fixedChannels: number): number {
  const perImage = grid.imageLength * fixedChannels * Float32Array.BYTES_PER_ELEMENT;
  const margins = 2 * grid.margin * fixedChannels * Float32Array.BYTES_PER_ELEMENT;
  return Math.max(1, Math.min(batch, Math.floor((PACKED_OPERAND_BYTES - margins) / perImage)));
}

/**
 * Stride-1 dW as one BatchMatMul per tap over shifted views (see the file comment), summed over
 * chunks of images. XNNPACK's products do not block the reduction axis: over a whole batch the packed
 * operand (10 MB for the 16 → 32 px sub-pixel layer) is streamed from memory once per few rows of the
 * other: that layer's dW ran at 12.5 GFLOP/s on one thread, 21.9 in chunks (2026-11-27, this project's
 * 2-core box; no change measurable in a whole step there, whose last-level cache is 480 MB). `gridFor(images)` plans a chunk's grid.
 */
export function filterGradByTaps(
  scratch: Scratch,
  x: TensorInfo,
  dy: TensorInfo,
  gridFor: (images: number) => FilterGradGrid,
  roles: FilterGradRoles,
  dw: TensorInfo,
): void {
  const { backend } = scratch;
  const batch = x.shape[0];
  const inChannels = x.shape[3];
  const outChannels = dy.shape[3];
  const [shifted, fixed] = roles === 'x' ? [x, dy] : [dy, x];
  const rows = shifted.shape[3];
  const columns = fixed.shape[3];
  const chunk = filterGradChunkImages(batch, gridFor(1), columns);
  const tapSize = inChannels * outChannels;
  heapView(backend, dw).fill(0);

  for (let first = 0; first < batch; first += chunk) {
    const images = Math.min(chunk, batch - first);
    const grid = gridFor(images);
    const left = scratch.alloc([rows * grid.length + 2 * grid.margin]);
    const right = scratch.alloc([1, grid.length, columns]);
    const imagesOf = (t: TensorInfo) => {
      const size = t.shape[1] * t.shape[2] * t.shape[3];
      return heapView(backend, t).subarray(first * size, (first + images) * size);
    };
    toChannelMajorGrid(imagesOf(shifted), [images, ...shifted.shape.slice(1)], grid, heapView(backend, left));
    toRowMajorGrid(imagesOf(fixed), [images, ...fixed.shape.slice(1)], grid, heapView(backend, right));

    const products = grid.tapOffsets.map((offset) => {
      // x is read offset_t ahead of dy: shift x's rows forward, or dy's back
      const a = scratch.view(left, grid.margin + (roles === 'x' ? offset : -offset), [1, rows, grid.length]);
      return scratch.run(BatchMatMul, { a, b: right }, { transposeA: false, transposeB: false });
    });
    const out = heapView(backend, dw);
    products.forEach((product, tap) => {
      const values = heapView(backend, product);
      const base = tap * tapSize;
      if (roles === 'x') {
        for (let i = 0; i < tapSize; i++) out[base + i] += values[i];
      } else {
        // values [co, ci] -> out [ci, co]
        for (let co = 0; co < outChannels; co++) {
          for (let ci = 0; ci < inChannels; ci++) out[base + ci * outChannels + co] += values[co * inChannels + ci];
        }
      }
    });
  }
}

/** `options.roles` pins the stride-1 path's arrangement (tests, benchmarks); by default chooseFilterGradRoles decides. */
export function createConv2DBackpropFilterKernel(options: { roles?: FilterGradRoles } = {}): KernelConfig {
  const kernelFunc: KernelFunc = (args) => {
    const backend = args.backend as BackendWasm;
    const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
    const attrs = args.attrs as unknown as Conv2DBackpropFilterAttrs;
    if (attrs.dataFormat === 'NCHW') {
      throw new Error('wasm Conv2DBackpropFilter: only NHWC (channelsLast) is supported');
    }
    const conv = channelsLastConvInfo('Conv2DBackpropFilter', x.shape as [number, number, number, number], attrs.filterShape, attrs);
    const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels } = conv;
    const { filterHeight, filterWidth, strideHeight, strideWidth } = conv;
    const gridFor = (images: number) =>
      planFilterGradGrid({
        batch: images,
        height: inHeight,
        width: inWidth,
        outHeight,
        outWidth,
        filterHeight,
        filterWidth,
        padTop: conv.padInfo.top,
        padBottom: conv.padInfo.bottom,
        padLeft: conv.padInfo.left,
        padRight: conv.padInfo.right,
      });
    const grid = strideHeight === 1 && strideWidth === 1 ? gridFor(batchSize) : null;
    if (grid !== null) {
      return withScratch(backend, (scratch) => {
        const dw = backend.makeOutput([filterHeight, filterWidth, inChannels, outChannels], 'float32');
        try {
          const roles = options.roles ?? chooseFilterGradRoles(inChannels, outChannels);
          filterGradByTaps(scratch, x, dy, (images) => gridFor(images) as FilterGradGrid, roles, dw);
        } catch (error) {
          backend.disposeData(dw.dataId);
          throw error;
        }
        return dw;
      });
    }

    const rows = planFilterGradAxis(inHeight, filterHeight, strideHeight, conv.padInfo.top, outHeight);
    const cols = planFilterGradAxis(inWidth, filterWidth, strideWidth, conv.padInfo.left, outWidth);

    return withScratch(backend, (scratch) => {
      const xT = scratch.alloc([inChannels, rows.used, cols.used, batchSize]);
      const dyT = scratch.alloc([outHeight, outWidth, batchSize, outChannels]);
      nhwcToCHWN(heapView(backend, x), x.shape, rows.used, cols.used, heapView(backend, xT));
      nhwcToHWNC(heapView(backend, dy), dy.shape, heapView(backend, dyT));
      const convAttrs = strideOneConvAttrs(rows, cols, [strideHeight, strideWidth]);
      const perChannel = scratch.run(Conv2D, { x: xT, filter: dyT }, convAttrs);
      const dw = backend.makeOutput([filterHeight, filterWidth, inChannels, outChannels], 'float32');
      chwoToHWIO(heapView(backend, perChannel), perChannel.shape, heapView(backend, dw));
      return dw;
    });
  };
  return { kernelName: Conv2DBackpropFilter, backendName: 'wasm', kernelFunc };
}
