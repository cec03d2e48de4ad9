import * as tf from '@tensorflow/tfjs';

/**
 * Adam with fused update kernels. tfjs's AdamOptimizer runs about a dozen element-wise kernels per
 * variable per step (plus scalar uploads for its constants): with the DCGAN's 40 variables (64 px) that is
 * ~480 kernel calls, a third of a webgpu training step's launches (on wasm at 32 px, width 0.25, the
 * profile counted 512 element-wise calls fewer a step and 108 fused ones instead). Here each
 * variable costs three: m ← β1·m + (1−β1)·g, v ← β2·v + (1−β2)·g², w ← w − lr·(m/(1−β1ᵗ)) / (√(v/(1−β2ᵗ)) + ε),
 * with every constant an attribute (β1ᵗ and β2ᵗ come from the iteration count, on the CPU). The
 * kernels are registered per backend (webgpu/adam.ts, kernels/wasm/adam.ts); where they are not,
 * this is tf.train.adam. The state is AdamOptimizer's own (accumulatedFirstMoment/SecondMoment, same
 * names and order), so getWeights/setWeights and checkpoints are unchanged.
 */
export const ADAM_MOMENT_KERNEL = 'FaceganAdamMoment';
export const ADAM_WEIGHT_KERNEL = 'FaceganAdamWeight';

export interface AdamMomentAttrs {
  /** β1 for the first moment, β2 for the second. */
  decay: number;
  /** 1: the gradient (first moment); 2: its square (second moment). */
  power: 1 | 2;
}

export interface AdamWeightAttrs {
  learningRate: number;
  beta1: number;
  beta2: number;
  /** t, the update's number from 1: the bias corrections are 1 − β1ᵗ and 1 − β2ᵗ (adamBiasCorrections). */
  step: number;
  epsilon: number;
}

/** 1 − β1ᵗ and 1 − β2ᵗ, computed in float64 from the update's number. */
export function adamBiasCorrections(attrs: AdamWeightAttrs): { oneMinusBeta1Power: number; oneMinusBeta2Power: number } {
  return { oneMinusBeta1Power: 1 - attrs.beta1 ** attrs.step, oneMinusBeta2Power: 1 - attrs.beta2 ** attrs.step };
}

/** What AdamOptimizer keeps private that the fused path reads or repairs. */
interface AdamInternals {
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
  accumulatedFirstMoment: Array<{ originalName: string; variable: tf.Variable }>;
  accumulatedSecondMoment: Array<{ originalName: string; variable: tf.Variable }>;
}

type VariableGradients = Parameters<tf.AdamOptimizer['applyGradients']>[0];

/**
 * AdamOptimizer whose update runs as three fused kernels per variable where the backend has them (see the top of this
 * file). Same constructor, state, serialization (className 'Adam') and results as tf.train.adam.
 */
export class FusedAdamOptimizer extends tf.AdamOptimizer {
  /** True while the last applyGradients ran the fused path and left accBeta1/2 unmaintained. */
  private accBetaStale = false;

  override applyGradients(variableGradients: VariableGradients): void {
    const internals = this as unknown as AdamInternals;
    const backend = tf.getBackend();
    const fused = tf.getKernel(ADAM_MOMENT_KERNEL, backend) !== undefined && tf.getKernel(ADAM_WEIGHT_KERNEL, backend) !== undefined;
    if (!fused) {
      if (this.accBetaStale) {
        // The fused path does not multiply accBeta1/2 every step (two launches and two uploads):
        // AdamOptimizer.setWeights derives them the same way from the iteration count.
        tf.tidy(() => {
          internals.accBeta1.assign(tf.scalar(this.beta1 ** (this.iterations + 1)));
          internals.accBeta2.assign(tf.scalar(this.beta2 ** (this.iterations + 1)));
        });
        this.accBetaStale = false;
      }
      super.applyGradients(variableGradients);
      return;
    }
    const names = Array.isArray(variableGradients) ? variableGradients.map((v) => v.name) : Object.keys(variableGradients);
    const weightAttrs: AdamWeightAttrs = {
      learningRate: this.learningRate,
      beta1: this.beta1,
      beta2: this.beta2,
      // `iterations` (not iterations_, which is undefined until the first increment).
      step: this.iterations + 1,
      epsilon: this.epsilon,
    };
    tf.tidy(() => {
      names.forEach((name, i) => {
        const value = tf.engine().registeredVariables[name];
        if (internals.accumulatedFirstMoment[i] == null) {
          internals.accumulatedFirstMoment[i] = { originalName: `${name}/m`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
        }
        if (internals.accumulatedSecondMoment[i] == null) {
          internals.accumulatedSecondMoment[i] = { originalName: `${name}/v`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
        }
        const gradient = Array.isArray(variableGradients) ? variableGradients[i].tensor : variableGradients[name];
        if (gradient == null) return;
        const firstMoment = internals.accumulatedFirstMoment[i].variable;
        const secondMoment = internals.accumulatedSecondMoment[i].variable;
        const run = (kernel: string, inputs: tf.NamedTensorMap, attrs: object) =>
          tf.engine().runKernel(kernel, inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
        const newFirst = run(ADAM_MOMENT_KERNEL, { x: firstMoment, g: gradient }, { decay: this.beta1, power: 1 });
        const newSecond = run(ADAM_MOMENT_KERNEL, { x: secondMoment, g: gradient }, { decay: this.beta2, power: 2 });
        const newValue = run(ADAM_WEIGHT_KERNEL, { w: value, m: newFirst, v: newSecond }, weightAttrs);
        firstMoment.assign(newFirst);
        secondMoment.assign(newSecond);
        value.assign(newValue);
      });
    });
    this.accBetaStale = true;
    this.incrementIterations();
  }

  /**
   * Counts an update that ran without this optimizer's JS: a replayed step (webgpu/step-replay.ts) ran the
   * update kernels of a recorded one, with this update's bias corrections.
   */
  countReplayedUpdate(): void {
    this.accBetaStale = true;
    this.incrementIterations();
  }
}

/** tf.train.adam with the fused update (the same defaults: β2 0.999, ε from the backend). */
export function fusedAdam(learningRate = 0.001, beta1 = 0.9, beta2 = 0.999, epsilon?: number): FusedAdamOptimizer {
  return new FusedAdamOptimizer(learningRate, beta1, beta2, epsilon);
}
