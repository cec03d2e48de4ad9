import * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend, WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';
import { mixSeed } from '@facegan/random';
import type { ProgramUniform } from './dispatch-cache';
import { PHILOX_WGSL, philox4x32, seedToKey } from './philox';
import { webGpuKernel } from './webgpu-kernel';

/**
 * Standard normal samples drawn on the device (Box–Muller over Philox4x32-10): tf.randomNormal draws
 * in JS and uploads, every step, for the latent batch. Element i comes from word i%4 of counter
 * floor(i/4) under key = seed: words (0, 1) give elements 0 and 1, words (2, 3) elements 2 and 3.
 */
export const GPU_RANDOM_NORMAL_KERNEL = 'FaceganGpuRandomNormal';

const WORKGROUP_SIZE = 64;
const ELEMENTS_PER_THREAD = 4;
const TWO_PI = 6.283185307179586;

class RandomNormalProgram implements WebGPUProgram {
  variableNames: string[] = [];
  outputShape: number[];
  shaderKey = 'faceganRandomNormal';
  /** A new Philox key every call (dispatch-cache.ts). */
  volatileUniforms = true;
  uniformsStepsAhead?: (steps: number) => ProgramUniform;
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [WORKGROUP_SIZE, 1, 1];
  uniforms = 'numElements : i32, key : vec2<u32>,';

  constructor(shape: number[]) {
    this.outputShape = shape;
    this.dispatchLayout = { x: shape.map((_, dim) => dim) };
    this.dispatch = [Math.ceil(Math.ceil(tf.util.sizeFromShape(shape) / ELEMENTS_PER_THREAD) / WORKGROUP_SIZE), 1, 1];
  }

  getUserCode(): string {
    return `
      ${PHILOX_WGSL}
      // A u32 to a uniform in (0, 1): the top 24 bits, centred, so log() never sees 0.
      fn toOpenUnit(word : u32) -> f32 {
        return (f32(word >> 8u) + 0.5) / 16777216.0;
      }
      fn main(index : i32) {
        let first = index * ${ELEMENTS_PER_THREAD};
        if (first >= uniforms.numElements) {
          return;
        }
        let random = philox4x32(vec4<u32>(u32(index), 0u, 0u, 0u), uniforms.key);
        var normals : array<f32, 4>;
        for (var pair = 0; pair < 2; pair++) {
          let radius = sqrt(-2.0 * log(toOpenUnit(random[2 * pair])));
          let angle = ${TWO_PI} * toOpenUnit(random[2 * pair + 1]);
          normals[2 * pair] = radius * cos(angle);
          normals[2 * pair + 1] = radius * sin(angle);
        }
        for (var lane = 0; lane < ${ELEMENTS_PER_THREAD}; lane++) {
          if (first + lane < uniforms.numElements) {
            result[first + lane] = normals[lane];
          }
        }
      }
    `;
  }
}

/** The same numbers on the CPU (to float32 rounding of log/cos/sin): the tests' reference. */
export function randomNormalOnCpu(size: number, seed: number): Float32Array {
  const key = seedToKey(seed);
  const toOpenUnit = (word: number) => (Math.floor(word / 256) + 0.5) / 16777216;
  const out = new Float32Array(size);
  for (let counter = 0; counter * ELEMENTS_PER_THREAD < size; counter++) {
    const random = philox4x32([counter, 0, 0, 0], key);
    for (let pair = 0; pair < 2; pair++) {
      const radius = Math.sqrt(-2 * Math.log(toOpenUnit(random[2 * pair])));
      const angle = TWO_PI * toOpenUnit(random[2 * pair + 1]);
      const base = counter * ELEMENTS_PER_THREAD + 2 * pair;
      if (base < size) out[base] = radius * Math.cos(angle);
      if (base + 1 < size) out[base + 1] = radius * Math.sin(angle);
    }
  }
  return out;
}

interface RandomNormalAttrs {
  shape: number[];
  seed: number;
  /** The training step the samples are for: the seed is then mixSeed(seed, step). */
  step?: number;
}

function attrsSeed(attrs: RandomNormalAttrs): number {
  return attrs.step === undefined ? attrs.seed : mixSeed(attrs.seed, attrs.step);
}

export const gpuRandomNormalWebGpuKernel = webGpuKernel(GPU_RANDOM_NORMAL_KERNEL, (args) => {
  const attrs = args.attrs as unknown as RandomNormalAttrs;
  const size = tf.util.sizeFromShape(attrs.shape);
  const uniforms = (callAttrs: RandomNormalAttrs): ProgramUniform => [
    { type: 'int32', data: [size] },
    { type: 'uint32', data: seedToKey(attrsSeed(callAttrs)) },
  ];
  const program = new RandomNormalProgram(attrs.shape);
  // a replayed step (step-replay.ts) draws the samples of a later step
  const step = attrs.step;
  if (step !== undefined) program.uniformsStepsAhead = (steps) => uniforms({ ...attrs, step: step + steps });
  return (args.backend as WebGPUBackend).runWebGPUProgram(program, [], 'float32', uniforms(attrs));
});

/**
 * Standard normal samples of `shape`, drawn on the device; deterministic for a seed (an integer in
 * [0, 2^53)), or for a training step's: mixSeed(seed, step). Backends without the kernel (wasm,
 * tensorflow, cpu) get the same numbers computed in JS, so a seeded run draws the same latents on every
 * backend. Not differentiable (no inputs).
 */
export function randomNormalOnGpu(shape: number[], seed: number, step?: number): tf.Tensor {
  const attrs: RandomNormalAttrs = step === undefined ? { shape, seed } : { shape, seed, step };
  seedToKey(attrsSeed(attrs)); // validates
  if (!tf.getKernel(GPU_RANDOM_NORMAL_KERNEL, tf.getBackend())) {
    return tf.tensor(randomNormalOnCpu(tf.util.sizeFromShape(shape), attrsSeed(attrs)), shape);
  }
  return tf.engine().runKernel(GPU_RANDOM_NORMAL_KERNEL, {}, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
}
