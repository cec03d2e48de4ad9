import * as tf from '@tensorflow/tfjs';

/**
 * A 'same'-padded 2-D convolution whose filter gradient is itself a forward convolution, so that it trains on every
 * stock tfjs backend. The stock wasm backend (tfjs 4.22) has no Conv2DBackpropFilter kernel, and the engine's
 * kernels that add one are out of this lib's reach (module boundaries): the judge must not depend on how the caller
 * set up its backend.
 *
 * dW[kh, kw, ci, co] = Σ over n, y, x of xPadded[n, s·y + kh, s·x + kw, ci] · dy[n, y, x, co]: a convolution of the
 * padded input with channels and batch swapped ([ci, H, W, n]) by dy as the filter ([Ho, Wo, n, co]), dilated by
 * the stride. dX is the transposed convolution (conv2dTranspose), which every backend has.
 */
export function conv2dSame(x: tf.Tensor4D, filter: tf.Tensor4D, stride: number, inputNeedsGradient = true): tf.Tensor4D {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, weights, save] = args as [tf.Tensor4D, tf.Tensor4D, tf.GradSaveFunc];
    const inputs = [input, weights] as const;
    save([...inputs]);
    return {
      value: tf.conv2d(inputs[0], inputs[1], stride, 'same'),
      gradFunc: (dy, saved) => {
        const [xs, ws] = saved as [tf.Tensor4D, tf.Tensor4D];
        const dyImage = dy as tf.Tensor4D;
        const size = ws.shape[0];
        const [top, bottom] = samePadding(xs.shape[1], size, stride);
        const [left, right] = samePadding(xs.shape[2], size, stride);
        const padded = xs.pad([[0, 0], [top, bottom], [left, right], [0, 0]]);
        const swapped = padded.transpose([3, 1, 2, 0]) as tf.Tensor4D;
        const dyAsFilter = dyImage.transpose([1, 2, 0, 3]) as tf.Tensor4D;
        // the dilated dy spans at most the padded input: the valid result is at least size × size, its start is dW
        const full = tf.conv2d(swapped, dyAsFilter, 1, 'valid', 'NHWC', stride);
        const filterGradient = full.slice([0, 0, 0, 0], [full.shape[0], size, size, full.shape[3]]).transpose([1, 2, 0, 3]);
        // the first layer's input is data: skip its transposed convolution, the costliest op here
        const inputGradient = inputNeedsGradient ? tf.conv2dTranspose(dyImage, ws, xs.shape, stride, 'same') : tf.zerosLike(xs);
        return [inputGradient, filterGradient];
      },
    };
  });
  return op(x, filter) as tf.Tensor4D;
}

/** tfjs's 'same' padding: the total is split with the extra pixel at the end. */
function samePadding(size: number, filterSize: number, stride: number): [number, number] {
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + filterSize - size, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}
