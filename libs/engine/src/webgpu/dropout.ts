import * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend, WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';
import { mixSeed } from '@facegan/random';
import type { ProgramUniform } from './dispatch-cache';
import { PHILOX_WGSL, philox4x32, seedToKey } from './philox';
import { webGpuKernel, type KernelArgs } from './webgpu-kernel';

/**
 * Dropout whose mask is drawn on the device: element i of the input is kept when the Philox4x32-10
 * word i%4 of counter floor(i/4) under key = seed is below keepProbability·2^32. tf.dropout draws its
 * mask in JS (randomUniform) and uploads it every call (16.5% of an H200 step); this draws nothing on
 * the CPU. The mask is a pure function of (seed, index), so the gradient is the same kernel applied
 * to dy with the same seed: no mask tensor is kept between forward and backward.
 */
export const GPU_DROPOUT_KERNEL = 'FaceganGpuDropout';

export interface GpuDropoutAttrs {
  rate: number;
  seed: number;
  /** With `call`: the mask of the call-th dropout call of training step `step` under `seed` (dropoutSeed). */
  step?: number;
  call?: number;
}

/** Which call of which training step a mask is for (GpuDropout with a step clock). */
export interface DropoutCall {
  step: number;
  call: number;
}

/** The Philox seed of a mask: `seed` itself, or for a step's call mixSeed(seed, step) + 2^32·call. */
export function dropoutSeed(seed: number, at?: DropoutCall): number {
  return at === undefined ? seed : mixSeed(seed, at.step) + 2 ** 32 * at.call;
}

function attrsSeed(attrs: GpuDropoutAttrs): number {
  return dropoutSeed(attrs.seed, attrs.step === undefined ? undefined : { step: attrs.step, call: attrs.call ?? 0 });
}

const WORKGROUP_SIZE = 64;
/** Each thread uses all four words of one Philox call. */
const ELEMENTS_PER_THREAD = 4;

/** keep ⇔ random u32 < threshold; the threshold is a u32, so keepProbability 1 is the identity path. */
function keepThreshold(rate: number): number {
  return Math.min(Math.round((1 - rate) * 2 ** 32), 2 ** 32 - 1);
}

class GpuDropoutProgram implements WebGPUProgram {
  variableNames = ['x'];
  outputShape: number[];
  shaderKey = 'faceganGpuDropout';
  /** A new Philox key every call (dispatch-cache.ts). */
  volatileUniforms = true;
  uniformsStepsAhead?: (steps: number) => ProgramUniform;
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [WORKGROUP_SIZE, 1, 1];
  uniforms = 'numElements : i32, keepThreshold : u32, scale : f32, key : vec2<u32>,';

  constructor(shape: number[]) {
    this.outputShape = shape;
    this.dispatchLayout = { x: shape.map((_, dim) => dim) };
    const threads = Math.ceil(tf.util.sizeFromShape(shape) / ELEMENTS_PER_THREAD);
    this.dispatch = [Math.ceil(threads / WORKGROUP_SIZE), 1, 1];
  }

  getUserCode(): string {
    return `
      ${PHILOX_WGSL}
      fn main(index : i32) {
        let first = index * ${ELEMENTS_PER_THREAD};
        if (first >= uniforms.numElements) {
          return;
        }
        let random = philox4x32(vec4<u32>(u32(index), 0u, 0u, 0u), uniforms.key);
        for (var lane = 0; lane < ${ELEMENTS_PER_THREAD}; lane++) {
          let element = first + lane;
          if (element < uniforms.numElements) {
            let kept = random[lane] < uniforms.keepThreshold;
            result[element] = select(0.0, x[element] * uniforms.scale, kept);
          }
        }
      }
    `;
  }
}

type DropoutKernelArgs = KernelArgs<{ x: tf.TensorInfo }>;

function gpuDropoutWebGpu(args: DropoutKernelArgs): tf.TensorInfo {
  const { x } = args.inputs;
  const attrs = args.attrs as unknown as GpuDropoutAttrs;
  const backend = args.backend as WebGPUBackend;
  const program = new GpuDropoutProgram(x.shape);
  const uniforms = (callAttrs: GpuDropoutAttrs): ProgramUniform => [
    { type: 'int32', data: [tf.util.sizeFromShape(x.shape)] },
    { type: 'uint32', data: [keepThreshold(callAttrs.rate)] },
    { type: 'float32', data: [1 / (1 - callAttrs.rate)] },
    { type: 'uint32', data: seedToKey(attrsSeed(callAttrs)) },
  ];
  // a replayed step (step-replay.ts) draws the mask of the same call of a later step
  const step = attrs.step;
  if (step !== undefined) program.uniformsStepsAhead = (steps) => uniforms({ ...attrs, step: step + steps });
  return backend.runWebGPUProgram(program, [x], 'float32', uniforms(attrs));
}

/** The same mask on the CPU: the reference the tests compare the device against. */
export function dropoutMaskOnCpu(size: number, rate: number, seed: number): Uint8Array {
  const key = seedToKey(seed);
  const threshold = keepThreshold(rate);
  const mask = new Uint8Array(size);
  for (let counter = 0; counter * ELEMENTS_PER_THREAD < size; counter++) {
    const random = philox4x32([counter, 0, 0, 0], key);
    for (let lane = 0; lane < ELEMENTS_PER_THREAD && counter * ELEMENTS_PER_THREAD + lane < size; lane++) {
      mask[counter * ELEMENTS_PER_THREAD + lane] = random[lane] < threshold ? 1 : 0;
    }
  }
  return mask;
}

/** The cpu backend's tensor factory, which KernelBackend's type does not declare. */
interface TensorInfoFactory {
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): tf.TensorInfo;
}

function gpuDropoutCpu(args: DropoutKernelArgs): tf.TensorInfo {
  const { x } = args.inputs;
  const attrs = args.attrs as unknown as GpuDropoutAttrs;
  const rate = attrs.rate;
  const values = args.backend.readSync(x.dataId) as Float32Array;
  const mask = dropoutMaskOnCpu(values.length, rate, attrsSeed(attrs));
  const scale = Math.fround(1 / (1 - rate));
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = mask[i] ? values[i] * scale : 0;
  return (args.backend as unknown as TensorInfoFactory).makeTensorInfo(x.shape, 'float32', out);
}

export const gpuDropoutWebGpuKernel = webGpuKernel(GPU_DROPOUT_KERNEL, gpuDropoutWebGpu);

/** A CPU version of the same kernel, so the op (and its gradient) can be checked against the cpu backend. */
export const gpuDropoutCpuKernel: tf.KernelConfig = {
  kernelName: GPU_DROPOUT_KERNEL,
  backendName: 'cpu',
  kernelFunc: gpuDropoutCpu as unknown as tf.KernelFunc,
};

export const gpuDropoutGradient: tf.GradConfig = {
  kernelName: GPU_DROPOUT_KERNEL,
  gradFunc: (dy, _saved, attrs) => ({
    x: () => tf.engine().runKernel(GPU_DROPOUT_KERNEL, { x: dy as tf.Tensor }, attrs as tf.NamedAttrMap) as tf.Tensor,
  }),
};

/** True where the current backend has the device-side kernel (webgpu, and the cpu reference). */
export function hasGpuDropoutKernel(): boolean {
  return tf.getKernel(GPU_DROPOUT_KERNEL, tf.getBackend()) !== undefined;
}

/**
 * Inverted dropout with a device-drawn mask: zeroes each element with probability `rate`, scales the
 * rest by 1/(1-rate). Deterministic for a seed (an integer in [0, 2^53)); use a new seed for each
 * call that should draw a new mask. On webgpu (and cpu) it runs the project's kernel (registered by
 * `initWebGpu` / `installWebGpuOverrides`); on other backends (wasm, tensorflow) it applies the same
 * mask computed in JS, so every backend drops the same elements for the same seed.
 */
export function dropoutOnGpu<T extends tf.Tensor>(x: T, rate: number, seed: number, at?: DropoutCall): T {
  if (!(rate >= 0 && rate < 1)) throw new Error(`dropout rate must be in [0, 1), got ${rate}`);
  seedToKey(dropoutSeed(seed, at)); // validates
  if (x.dtype !== 'float32') throw new Error(`dropoutOnGpu needs float32, got ${x.dtype}`);
  if (rate === 0) return x.clone();
  if (!hasGpuDropoutKernel()) {
    const mask = dropoutMaskOnCpu(x.size, rate, dropoutSeed(seed, at));
    const scale = Math.fround(1 / (1 - rate));
    return tf.tidy(() => tf.mul(x, tf.tensor(Float32Array.from(mask, (bit) => bit * scale), x.shape))) as T;
  }
  const attrs: GpuDropoutAttrs = at === undefined ? { rate, seed } : { rate, seed, step: at.step, call: at.call };
  return tf.engine().runKernel(GPU_DROPOUT_KERNEL, { x }, attrs as unknown as tf.NamedAttrMap) as T;
}

export interface GpuDropoutLayerArgs {
  rate: number;
  /** The base of the per-call seeds; a random one when absent. */
  seed?: number;
  /**
   * The training step being run. With it, the n-th call of a step draws the mask of (seed, step, n)
   * (dropoutSeed): a step's masks do not depend on the steps run before it in the process, so a resumed
   * run draws the masks an uninterrupted one would, and a replayed step (step-replay.ts) can draw them.
   */
  stepClock?: () => number;
  name?: string;
}

/**
 * Drop-in replacement for tf.layers.dropout (no noiseShape) that draws its masks on the device.
 * Each call in training mode uses seed + 2^32·(call number), or with a step clock the call's number in its
 * step (see GpuDropoutLayerArgs), so successive calls (D on real, on fake, again for G) draw different masks
 * while a run with a fixed seed repeats exactly, on every backend (see dropoutOnGpu).
 */
export class GpuDropout extends tf.layers.Layer {
  static readonly className = 'GpuDropout';
  readonly rate: number;
  readonly seed: number;
  private readonly stepClock: (() => number) | undefined;
  private calls = 0;
  private callsStep = -1;

  constructor(args: GpuDropoutLayerArgs) {
    super(args as ConstructorParameters<typeof tf.layers.Layer>[0]);
    if (!(args.rate >= 0 && args.rate < 1)) throw new Error(`GpuDropout rate must be in [0, 1), got ${args.rate}`);
    this.rate = args.rate;
    this.seed = args.seed ?? Math.floor(Math.random() * 2 ** 32);
    if (!Number.isInteger(this.seed) || this.seed < 0 || this.seed >= 2 ** 32) {
      throw new Error(`GpuDropout seed must be an integer in [0, 2^32), got ${this.seed}`);
    }
    this.stepClock = args.stepClock;
    this.supportsMasking = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: { training?: boolean }): tf.Tensor {
    const input = Array.isArray(inputs) ? inputs[0] : inputs;
    if (!kwargs.training || this.rate === 0) return input.clone();
    if (this.stepClock) {
      const step = this.stepClock();
      if (step !== this.callsStep) [this.callsStep, this.calls] = [step, 0];
      return dropoutOnGpu(input, this.rate, this.seed, { step, call: this.calls++ });
    }
    const callSeed = this.seed + 2 ** 32 * (this.calls++ % 2 ** 21);
    return dropoutOnGpu(input, this.rate, callSeed);
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    return inputShape;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), rate: this.rate, seed: this.seed };
  }
}
tf.serialization.registerClass(GpuDropout);

/**
 * The same network with every tf.layers.dropout replaced by a GpuDropout of the same rate (the
 * other layers, and so the weights, are shared). For a chain of layers such as the seed
 * discriminator; until @facegan/model can build with GpuDropout itself. `seed` keys the masks: the
 * i-th dropout layer gets seed + i.
 */
export function withGpuDropout(model: tf.LayersModel, seed: number): tf.LayersModel {
  const layers = model.layers.filter((layer) => layer.getClassName() !== 'InputLayer');
  const firstShape = model.inputs[0].shape.slice(1) as number[];
  const input = tf.input({ shape: firstShape });
  let output: tf.SymbolicTensor = input;
  let dropouts = 0;
  for (const layer of layers) {
    const replacement =
      layer.getClassName() === 'Dropout'
        ? new GpuDropout({ rate: (layer.getConfig() as { rate: number }).rate, seed: (seed + dropouts++) % 2 ** 32 })
        : layer;
    output = replacement.apply(output) as tf.SymbolicTensor;
  }
  return tf.model({ inputs: input, outputs: output, name: `${model.name}_gpu_dropout` });
}
