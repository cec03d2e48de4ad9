import * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { ElementwiseProgram } from './elementwise-program';
import { webGpuKernel } from './webgpu-kernel';

/**
 * Gradients of Sum and Mean that broadcast `dy` instead of multiplying it by `ones(x.shape)`.
 *
 * tfjs-core's own versions build that all-ones array on the CPU (makeOnesTypedArray) and upload it,
 * every step, at the full activation shape (the batch-norm statistics and the losses go through
 * them): measured at 29% of a step on an H200. broadcastTo runs as one kernel on the device, and is
 * correct on every backend, so these are registered globally (the gradient registry is not per
 * backend). Of the other stock gradients that build tensors on the CPU (listed with `grep -n
 * "ones(\|zeros(\|fill(" node_modules/@tensorflow/tfjs-core/dist/gradients/*.js`), none is on the
 * DCGAN's path at activation size: OneHot and UnsortedSegmentSum only, plus scalar constants
 * (`scalar(1)` in Sigmoid/Tanh, `scalar(2)` in SquaredDifference), which are 4-byte uploads.
 */

export const broadcastSumGradient: tf.GradConfig = {
  kernelName: tf.Sum,
  inputsToSave: ['x'],
  gradFunc: (dy, saved, attrs) => {
    const [x] = saved;
    const { axis } = attrs as unknown as tf.SumAttrs;
    return { x: () => broadcastToInputShape(dy as tf.Tensor, x.shape, axis, 1) };
  },
};

export const broadcastMeanGradient: tf.GradConfig = {
  kernelName: tf.Mean,
  inputsToSave: ['x'],
  gradFunc: (dy, saved, attrs) => {
    const [x] = saved;
    const { axis } = attrs as unknown as tf.MeanAttrs;
    const axes = tf.util.parseAxisParam(axis, x.shape);
    const reduceSize = axes.reduce((size, dim) => size * x.shape[dim], 1);
    return { x: () => broadcastToInputShape(dy as tf.Tensor, x.shape, axis, reduceSize) };
  },
};

/** dy (the reduced shape, with or without keepDims) → x's shape, divided by `divisor` when it is not 1. */
function broadcastToInputShape(dy: tf.Tensor, xShape: number[], axis: number | number[], divisor: number): tf.Tensor {
  return tf.tidy(() => {
    const axes = tf.util.parseAxisParam(axis, xShape);
    const keptDimsShape = xShape.map((size, dim) => (axes.includes(dim) ? 1 : size));
    // The stock gradient multiplies by a float32 ones array, so an int32 dy came back as float32.
    const dyFloat = dy.dtype === 'float32' ? dy : tf.cast(dy, 'float32');
    if (divisor !== 1 && reducesLeadingAxes(axes) && tf.getBackend() === 'webgpu' && tf.getKernel(BROADCAST_DIVIDE_KERNEL, 'webgpu')) {
      // Mean over leading axes (batch-norm moments, losses): the division and the broadcast in one dispatch.
      return tf.engine().runKernel(BROADCAST_DIVIDE_KERNEL, { dy: dyFloat }, { shape: xShape, divisor } as unknown as tf.NamedAttrMap) as tf.Tensor;
    }
    const scaled = divisor === 1 ? dyFloat : tf.div(dyFloat, divisor);
    return tf.broadcastTo(tf.reshape(scaled, keptDimsShape), xShape);
  });
}

function reducesLeadingAxes(axes: number[]): boolean {
  return axes.length > 0 && [...axes].sort((a, b) => a - b).every((axis, i) => axis === i);
}

/**
 * dy / divisor broadcast over x's leading axes (dy holds the trailing ones, flat): y[i] = dy[i mod |dy|]
 * / divisor. Webgpu only; registered with the project's kernels (not in the 'v1' set).
 */
export const BROADCAST_DIVIDE_KERNEL = 'FaceganBroadcastDivide';

export const broadcastDivideWebGpuKernel = webGpuKernel<{ dy: tf.TensorInfo }>(BROADCAST_DIVIDE_KERNEL, (args) => {
  const { dy } = args.inputs;
  const { shape, divisor } = args.attrs as unknown as { shape: number[]; divisor: number };
  const program = new ElementwiseProgram(
    ['dy'],
    shape,
    'faceganBroadcastDivide',
    'dySize : i32, divisor : f32,',
    'result[index] = dy[index % uniforms.dySize] / uniforms.divisor;',
  );
  return (args.backend as WebGPUBackend).runWebGPUProgram(program, [dy], 'float32', [
    { type: 'int32', data: [tf.util.sizeFromShape(dy.shape)] },
    { type: 'float32', data: [divisor] },
  ]);
});
