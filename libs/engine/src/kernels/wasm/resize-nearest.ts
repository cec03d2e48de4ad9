/**
 * ResizeNearestNeighborGrad for 'wasm', fast path for what UpSampling2D uses: integer up-scaling
 * factors, alignCorners = halfPixelCenters = false. Then output pixel (oh, ow) reads input pixel
 * (floor(oh / fh), floor(ow / fw)) exactly, so the gradient adds each dy channel run into its source
 * pixel (every input pixel collects fh*fw of them). The stock kernel evaluates the general float
 * mapping per element (~8 ms per call at the seed's 32x32x32 layer, ~3x slower). Other cases go to
 * the stock kernel. (JS forward ResizeNearestNeighbor versions, per element and by copied rows, were
 * measured no faster than stock: not kept.)
 */
import {
  ResizeNearestNeighborGrad,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { heapView } from './compose';

interface ResizeAttrs {
  alignCorners: boolean;
  halfPixelCenters: boolean;
}

/** [fh, fw] when small -> large is an integer nearest-neighbour up-scaling we handle; else null. */
export function integerUpscale(
  small: readonly number[],
  large: readonly number[],
  { alignCorners, halfPixelCenters }: ResizeAttrs,
): [number, number] | null {
  if (alignCorners || halfPixelCenters) return null;
  const [, h, w] = small;
  const [, oh, ow] = large;
  if (h === 0 || w === 0 || oh % h !== 0 || ow % w !== 0) return null;
  return [oh / h, ow / w];
}

export function createResizeNearestNeighborGradKernel(fallback: KernelFunc | undefined): KernelConfig {
  const kernelFunc: KernelFunc = (args) => {
    const backend = args.backend as BackendWasm;
    const { images, dy } = args.inputs as { images: TensorInfo; dy: TensorInfo };
    const attrs = args.attrs as unknown as ResizeAttrs;
    const factors = dy.dtype === 'float32' ? integerUpscale(images.shape, dy.shape, attrs) : null;
    if (factors === null) {
      if (fallback === undefined) throw new Error('wasm ResizeNearestNeighborGrad: no stock kernel to fall back to');
      return fallback(args);
    }
    const [fh, fw] = factors;
    const [batch, height, width, channels] = images.shape;
    const [, outHeight, outWidth] = dy.shape;
    const dx = backend.makeOutput(images.shape, 'float32');
    const src = heapView(backend, dy);
    const dst = heapView(backend, dx);
    dst.fill(0);
    let i = 0;
    for (let b = 0; b < batch; b++) {
      for (let oh = 0; oh < outHeight; oh++) {
        const rowBase = (b * height + Math.floor(oh / fh)) * width;
        for (let ow = 0; ow < outWidth; ow++) {
          const d = (rowBase + Math.floor(ow / fw)) * channels;
          for (let c = 0; c < channels; c++) dst[d + c] += src[i++];
        }
      }
    }
    return dx;
  };
  return { kernelName: ResizeNearestNeighborGrad, backendName: 'wasm', kernelFunc };
}
