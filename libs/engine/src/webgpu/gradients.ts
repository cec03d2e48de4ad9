import * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend, WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';

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

const WORKGROUP_SIZE = 64;

class BroadcastDivideProgram implements WebGPUProgram {
  variableNames = ['dy'];
  outputShape: number[];
  shaderKey = 'faceganBroadcastDivide';
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [WORKGROUP_SIZE, 1, 1];
  size = true;
  uniforms = 'dySize : i32, divisor : f32,';

  constructor(shape: number[]) {
    this.outputShape = shape;
    this.dispatchLayout = { x: shape.map((_, dim) => dim) };
    this.dispatch = [Math.ceil(tf.util.sizeFromShape(shape) / WORKGROUP_SIZE), 1, 1];
  }

  getUserCode(): string {
    return `
      fn main(index : i32) {
        if (index < uniforms.size) {
          result[index] = dy[index % uniforms.dySize] / uniforms.divisor;
        }
      }
    `;
  }
}

export const broadcastDivideWebGpuKernel: tf.KernelConfig = {
  kernelName: BROADCAST_DIVIDE_KERNEL,
  backendName: 'webgpu',
  kernelFunc: ((args: { inputs: { dy: tf.TensorInfo }; backend: tf.KernelBackend; attrs: tf.NamedAttrMap }) => {
    const { dy } = args.inputs;
    const { shape, divisor } = args.attrs as unknown as { shape: number[]; divisor: number };
    return (args.backend as WebGPUBackend).runWebGPUProgram(new BroadcastDivideProgram(shape), [dy], 'float32', [
      { type: 'int32', data: [tf.util.sizeFromShape(dy.shape)] },
      { type: 'float32', data: [divisor] },
    ]);
  }) as unknown as tf.KernelFunc,
};
