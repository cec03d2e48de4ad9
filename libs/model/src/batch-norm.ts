import * as tf from '@tensorflow/tfjs';

/**
 * Batch normalisation as the trainer runs it: tfjs-layers' BatchNormalization (the same weights, config and
 * inference), whose training step is one custom-gradient op instead of the ops tfjs-layers records.
 *
 * tfjs-layers computes the batch moments with Mean, Sub, Square, Mean, normalises with FusedBatchNorm, and
 * updates each moving statistic as m − (m − x)·(1 − momentum) (Sub, Multiply, Sub); backpropagation then runs
 * FusedBatchNorm's gradient (with respect to x, μ and σ² as if they were independent) and the moments' own
 * chain, adding the pieces up at the activation's full size. The backward pass of normalising over the batch
 * is, per channel, with r = 1/√(σ² + ε), N values, s0 = Σ dy and s1 = Σ dy·(x − μ):
 *
 *   dx = γ·r·(dy − s0/N − (x − μ)·r²·s1/N),   dγ = r·s1,   dβ = s0
 *
 * two passes over the activation. The batch variance can be one pass too (BATCH_VARIANCE, after the mean).
 * Backends opt in by registering the kernels below (the engine does for
 * wasm and webgpu); elsewhere the same formulas run as tfjs ops, and the moving averages as tfjs-layers'.
 */
export const BATCH_NORM_TRAIN_GRAD = 'FaceganBatchNormTrainGrad';
export const MOVING_AVERAGE = 'FaceganMovingAverage';
/** Inputs x, mean: the mean of (x − mean)² over every axis but the last (tf.moments' variance, in one pass). */
export const BATCH_VARIANCE = 'FaceganBatchVariance';

/** Inputs x, mean, variance, scale, dy; outputs dx, dScale, dOffset. */
export interface BatchNormTrainGradAttrs {
  varianceEpsilon: number;
}

/** Inputs average, value; output average − (average − value)·decay, per element. */
export interface MovingAverageAttrs {
  decay: number;
}

const run = (kernelName: string, inputs: tf.NamedTensorMap, attrs: object) =>
  tf.engine().runKernel(kernelName, inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor | tf.Tensor[];

const registered = (kernelName: string) => tf.getKernel(kernelName, tf.getBackend()) !== undefined;

export interface BatchNormTraining {
  normalized: tf.Tensor;
  /** The batch's per-channel mean and (biased) variance, for the moving averages: the caller disposes them. */
  mean: tf.Tensor1D;
  variance: tf.Tensor1D;
}

/**
 * γ·(x − μ)/√(σ² + ε) + β over every axis but the last, μ and σ² the batch's, as one op whose gradient is the
 * formula above. A fresh customGrad per call (tfjs keeps the last call's result in the function's closure).
 */
export function batchNormTraining(x: tf.Tensor, scale: tf.Tensor1D, offset: tf.Tensor1D, epsilon: number): BatchNormTraining {
  const axes = x.shape.slice(0, -1).map((_, axis) => axis);
  let mean: tf.Tensor1D | undefined;
  let variance: tf.Tensor1D | undefined;
  const normalized = tf.customGrad((...args: unknown[]) => {
    const [input, gamma, beta, save] = args as [tf.Tensor, tf.Tensor1D, tf.Tensor1D, tf.GradSaveFunc];
    if (registered(BATCH_VARIANCE)) {
      mean = tf.keep(tf.mean(input, axes) as tf.Tensor1D);
      variance = tf.keep(run(BATCH_VARIANCE, { x: input, mean }, {}) as tf.Tensor1D);
    } else {
      const moments = tf.moments(input, axes);
      mean = tf.keep(moments.mean as tf.Tensor1D);
      variance = tf.keep(moments.variance as tf.Tensor1D);
    }
    save([input, mean, variance, gamma]);
    return {
      value: tf.batchNorm(input, mean, variance, beta, gamma, epsilon),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [savedX, savedMean, savedVariance, savedScale] = saved;
        const inputs = { x: savedX, mean: savedMean, variance: savedVariance, scale: savedScale, dy: dy as tf.Tensor };
        if (registered(BATCH_NORM_TRAIN_GRAD)) return run(BATCH_NORM_TRAIN_GRAD, inputs, { varianceEpsilon: epsilon }) as tf.Tensor[];
        return batchNormTrainGradOps(inputs, axes, epsilon);
      },
    };
  })(x, scale, offset);
  return { normalized, mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D };
}

/** The gradient formula (file comment) as tfjs ops: [dx, dScale, dOffset]. */
function batchNormTrainGradOps(
  { x, mean, variance, scale, dy }: Record<'x' | 'mean' | 'variance' | 'scale' | 'dy', tf.Tensor>,
  axes: number[],
  epsilon: number,
): tf.Tensor[] {
  return tf.tidy(() => {
    const count = x.size / x.shape[x.rank - 1];
    const r = tf.rsqrt(tf.add(variance, epsilon));
    const centred = tf.sub(x, mean);
    const s0 = tf.sum(dy, axes);
    const s1 = tf.sum(tf.mul(dy, centred), axes);
    const inner = tf.sub(tf.sub(dy, tf.div(s0, count)), tf.mul(centred, tf.mul(tf.square(r), tf.div(s1, count))));
    return [tf.mul(tf.mul(scale, r), inner), tf.mul(r, s1), s0];
  });
}

/** variable ← variable − (variable − value)·(1 − momentum): tfjs-layers' update, as one kernel where registered. */
export function updateMovingAverage(variable: tf.LayerVariable, value: tf.Tensor, momentum: number): void {
  tf.tidy(() => {
    const decay = 1 - momentum;
    const current = variable.read();
    const next = registered(MOVING_AVERAGE)
      ? (run(MOVING_AVERAGE, { average: current, value }, { decay }) as tf.Tensor)
      : tf.sub(current, tf.mul(tf.sub(current, value), decay));
    variable.write(next);
  });
}

type StockBatchNormalization = ReturnType<typeof tf.layers.batchNormalization>;
type BatchNormalizationArgs = Parameters<typeof tf.layers.batchNormalization>[0];

/** What the subclass reads of tfjs-layers' BatchNormalization (declared private there). */
interface BatchNormalizationInternals {
  axis: number;
  momentum: number;
  epsilon: number;
  center: boolean;
  scale: boolean;
  gamma: tf.LayerVariable;
  beta: tf.LayerVariable;
  movingMean: tf.LayerVariable;
  movingVariance: tf.LayerVariable;
}

const StockBatchNormalizationClass = tf.serialization.SerializationMap.getMap().classNameMap['BatchNormalization'][0] as unknown as new (
  args?: BatchNormalizationArgs,
) => StockBatchNormalization;

/**
 * tf.layers.batchNormalization with the training step above (channels last, with γ and β, as the DCGAN's);
 * anything else, and inference, runs tfjs-layers' own call. Saved models name it FaceganBatchNormalization.
 */
export class FaceganBatchNormalization extends StockBatchNormalizationClass {
  static readonly className = 'FaceganBatchNormalization';

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: tf.serialization.ConfigDict): tf.Tensor | tf.Tensor[] {
    const input = Array.isArray(inputs) ? inputs[0] : inputs;
    const layer = this as unknown as BatchNormalizationInternals;
    const lastAxis = layer.axis === -1 || layer.axis === input.rank - 1;
    if (kwargs['training'] !== true || !lastAxis || !layer.center || !layer.scale) return super.call(inputs, kwargs as never);
    return tf.tidy(() => {
      const { normalized, mean, variance } = batchNormTraining(input, layer.gamma.read() as tf.Tensor1D, layer.beta.read() as tf.Tensor1D, layer.epsilon);
      updateMovingAverage(layer.movingMean, mean, layer.momentum);
      updateMovingAverage(layer.movingVariance, variance, layer.momentum);
      tf.dispose([mean, variance]);
      return normalized;
    });
  }
}
// (fromConfig is inherited from tfjs-layers' class; the constructor type above does not declare it)
tf.serialization.registerClass(FaceganBatchNormalization as unknown as tf.serialization.SerializableConstructor<tf.serialization.Serializable>);

/** A FaceganBatchNormalization layer (tf.layers.batchNormalization's arguments). */
export function batchNormalization(args?: BatchNormalizationArgs): FaceganBatchNormalization {
  return new FaceganBatchNormalization(args);
}
