/**
 * Conv2DBackpropInput for 'wasm' as ONE forward convolution (XNNPACK) over dy, plus a depth-to-space
 * (interleaving the stride phases) for strides > 1. The stock wasm kernel is a scalar loop (~0.7 GFLOP/s); forward Conv2D runs at
 * tens of GFLOP/s. See planInputGradAxis for the math.
 */
import {
  Conv2D,
  Conv2DBackpropInput,
  type Conv2DBackpropInputAttrs,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { heapView, runWasmKernel, withScratch } from './compose';
import { channelsLastConvInfo, strideOneConvAttrs, planInputGradAxis, subPixelFilter } from './conv-geometry';
import { depthToSpaceCrop } from './layout';

export function createConv2DBackpropInputKernel(fallback: KernelFunc | undefined): KernelConfig {
  const kernelFunc: KernelFunc = (args) => {
    const backend = args.backend as BackendWasm;
    const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
    const attrs = args.attrs as unknown as Conv2DBackpropInputAttrs;
    if (attrs.dataFormat === 'NCHW') {
      throw new Error('wasm Conv2DBackpropInput: only NHWC (channelsLast) is supported');
    }
    const filterShape = filter.shape as [number, number, number, number];
    const conv = channelsLastConvInfo('Conv2DBackpropInput', attrs.inputShape, filterShape, attrs);
    const rows = planInputGradAxis(conv.inHeight, conv.filterHeight, conv.strideHeight, conv.padInfo.top, conv.outHeight);
    const cols = planInputGradAxis(conv.inWidth, conv.filterWidth, conv.strideWidth, conv.padInfo.left, conv.outWidth);
    // Depth-to-space needs one block size; unequal strides or oversized explicit pads are rare
    // enough to leave to the stock kernel.
    if (rows === null || cols === null || conv.strideHeight !== conv.strideWidth) {
      if (fallback === undefined) throw new Error('wasm Conv2DBackpropInput: unsupported geometry and no fallback');
      return fallback(args);
    }
    const stride = conv.strideHeight;
    const { batchSize, inHeight, inWidth, inChannels, outChannels } = conv;

    return withScratch(backend, (scratch) => {
      const gShape = [rows.taps, cols.taps, outChannels, stride * stride * inChannels];
      const g = scratch.alloc(gShape);
      subPixelFilter(heapView(backend, filter), filterShape, stride, stride, heapView(backend, g));

      const convAttrs = strideOneConvAttrs(rows, cols, 1);
      const needsCrop =
        rows.cropOffset !== 0 || cols.cropOffset !== 0 || rows.length * stride !== inHeight || cols.length * stride !== inWidth;
      if (stride === 1 && !needsCrop) {
        return runWasmKernel(backend, Conv2D, { x: dy, filter: g }, convAttrs);
      }
      // Interleave the stride phases (depth-to-space) and crop, in one JS pass: the wasm
      // DepthToSpace kernel costs more than the convolution itself here.
      const phases = scratch.run(Conv2D, { x: dy, filter: g }, convAttrs);
      const dx = backend.makeOutput([batchSize, inHeight, inWidth, inChannels], 'float32');
      depthToSpaceCrop(
        heapView(backend, phases),
        phases.shape,
        stride,
        rows.cropOffset,
        cols.cropOffset,
        heapView(backend, dx),
        inHeight,
        inWidth,
      );
      return dx;
    });
  };
  return { kernelName: Conv2DBackpropInput, backendName: 'wasm', kernelFunc };
}
