import * as tf from '@tensorflow/tfjs';

/**
 * Fixes for the stock tfjs `cpu` backend (4.22) that training depends on.
 *
 * ResizeNearestNeighborGrad (the gradient of UpSampling2D, in every generator block) reads `dy` at
 * the offset of image b in the *input* (`b · h · w · c`) instead of in `dy` (`b · H · W · c`): for
 * batch > 1 every image but the first gets another image's gradient, and the cpu backend trains a
 * different generator than the other backends. Ours is the exact adjoint of the cpu forward kernel:
 * each `dy` element is added to the input pixel the forward pass copied it from (alignCorners and
 * halfPixelCenters as there).
 */

interface ResizeAttrs {
  alignCorners: boolean;
  halfPixelCenters: boolean;
}

/** The cpu backend's data map and tensor factory, which KernelBackend's type does not declare. */
interface CpuBackendLike {
  data: { get(dataId: object): { values: Float32Array } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): tf.TensorInfo;
}

/** Source index of output index `index` along one axis, as the cpu forward kernel computes it. */
function sourceIndex(index: number, ratio: number, inputSize: number, { alignCorners, halfPixelCenters }: ResizeAttrs): number {
  const fractional = halfPixelCenters ? ratio * (index + 0.5) : ratio * index;
  const nearest = Math.min(inputSize - 1, alignCorners ? Math.round(fractional) : Math.floor(fractional));
  return halfPixelCenters ? Math.max(0, nearest) : nearest;
}

function resizeNearestNeighborGrad(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs: tf.NamedAttrMap }): tf.TensorInfo {
  const backend = args.backend as CpuBackendLike;
  const { images, dy } = args.inputs as { images: tf.TensorInfo; dy: tf.TensorInfo };
  const attrs = args.attrs as unknown as ResizeAttrs;
  const [batch, inHeight, inWidth, channels] = images.shape;
  const [, outHeight, outWidth] = dy.shape;
  const effective = (inSize: number, outSize: number) =>
    attrs.alignCorners && outSize > 1 ? (inSize - 1) / (outSize - 1) : inSize / outSize;
  const rowRatio = effective(inHeight, outHeight);
  const colRatio = effective(inWidth, outWidth);
  const sourceCols = Int32Array.from({ length: outWidth }, (_, col) => sourceIndex(col, colRatio, inWidth, attrs));

  const dyValues = backend.data.get(dy.dataId).values;
  const dx = new Float32Array(batch * inHeight * inWidth * channels);
  let read = 0;
  for (let b = 0; b < batch; b++) {
    for (let row = 0; row < outHeight; row++) {
      const inRowBase = (b * inHeight + sourceIndex(row, rowRatio, inHeight, attrs)) * inWidth;
      for (let col = 0; col < outWidth; col++) {
        const write = (inRowBase + sourceCols[col]) * channels;
        for (let c = 0; c < channels; c++) dx[write + c] += dyValues[read++];
      }
    }
  }
  return backend.makeTensorInfo(images.shape, 'float32', dx);
}

const resizeNearestNeighborGradCpu: tf.KernelConfig = {
  kernelName: tf.ResizeNearestNeighborGrad,
  backendName: 'cpu',
  kernelFunc: resizeNearestNeighborGrad as unknown as tf.KernelFunc,
};

/** Registers the fixed cpu kernels in place of the stock ones. Idempotent. */
export function registerCpuKernelFixes(): void {
  if (tf.getKernel(tf.ResizeNearestNeighborGrad, 'cpu') === resizeNearestNeighborGradCpu) return;
  // registerKernel warns on a replacement: unregister the stock one first
  if (tf.getKernel(tf.ResizeNearestNeighborGrad, 'cpu')) tf.unregisterKernel(tf.ResizeNearestNeighborGrad, 'cpu');
  tf.registerKernel(resizeNearestNeighborGradCpu);
}
