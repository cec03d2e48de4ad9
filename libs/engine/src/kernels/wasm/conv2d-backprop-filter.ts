/**
 * Conv2DBackpropFilter for 'wasm' (the stock backend has none) as forward convolutions:
 *
 *   dW[t, u, ci, co] = sum over (b, oh, ow) of x[b, oh*s + t - pT, ow*s + u - pL, ci] * dy[b, oh, ow, co]
 *
 * is a correlation over space in which the batch is contracted like conv input channels. So: take x
 * with channels moved to the batch axis, x' = [ci, h, w, b], and dy as the filter, dy' = [oh, ow, b, co],
 * dilated by the stride; the conv's output [ci, kh, kw, co] is dW up to a (tiny) transpose.
 *
 * The two layout moves are JS loops over heap views (see layout.ts): 2-4x faster than the wasm
 * Transpose kernel for these permutations. Splitting the contraction into row chunks (to keep
 * XNNPACK's packed dy' in cache) was tried and measured no faster, so it is one conv.
 */
import {
  backend_util,
  Conv2D,
  Conv2DBackpropFilter,
  type Conv2DBackpropFilterAttrs,
  type KernelConfig,
  type KernelFunc,
  type NamedAttrMap,
  type TensorInfo,
} from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { heapView, withScratch } from './compose';
import { planFilterGradAxis } from './conv-geometry';
import { chwoToHWIO, nhwcToCHWN, nhwcToHWNC } from './layout';

export function createConv2DBackpropFilterKernel(): KernelConfig {
  const kernelFunc: KernelFunc = (args) => {
    const backend = args.backend as BackendWasm;
    const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
    const attrs = args.attrs as unknown as Conv2DBackpropFilterAttrs;
    if (attrs.dataFormat === 'NCHW') {
      throw new Error('wasm Conv2DBackpropFilter: only NHWC (channelsLast) is supported');
    }
    const conv = backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number],
      attrs.filterShape,
      attrs.strides,
      1,
      attrs.pad,
      attrs.dimRoundingMode,
      false,
      'channelsLast',
    );
    if (conv.dilationHeight !== 1 || conv.dilationWidth !== 1) {
      throw new Error('wasm Conv2DBackpropFilter: dilation must be 1');
    }
    const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels } = conv;
    const { filterHeight, filterWidth, strideHeight, strideWidth } = conv;
    const rows = planFilterGradAxis(inHeight, filterHeight, strideHeight, conv.padInfo.top, outHeight);
    const cols = planFilterGradAxis(inWidth, filterWidth, strideWidth, conv.padInfo.left, outWidth);

    return withScratch(backend, (scratch) => {
      const xT = scratch.alloc([inChannels, rows.used, cols.used, batchSize]);
      const dyT = scratch.alloc([outHeight, outWidth, batchSize, outChannels]);
      nhwcToCHWN(heapView(backend, x), x.shape, rows.used, cols.used, heapView(backend, xT));
      nhwcToHWNC(heapView(backend, dy), dy.shape, heapView(backend, dyT));
      const convAttrs = {
        strides: 1,
        pad: [
          [0, 0],
          [rows.padBefore, rows.padAfter],
          [cols.padBefore, cols.padAfter],
          [0, 0],
        ],
        dataFormat: 'NHWC',
        dilations: [strideHeight, strideWidth],
      } as unknown as NamedAttrMap;
      const perChannel = scratch.run(Conv2D, { x: xT, filter: dyT }, convAttrs);
      const dw = backend.makeOutput([filterHeight, filterWidth, inChannels, outChannels], 'float32');
      chwoToHWIO(heapView(backend, perChannel), perChannel.shape, heapView(backend, dw));
      return dw;
    });
  };
  return { kernelName: Conv2DBackpropFilter, backendName: 'wasm', kernelFunc };
}
