import * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend, WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';
import type { ProgramUniform } from './dispatch-cache';

const WORKGROUP_SIZE = 64;

export interface ElementwiseOptions {
  /** Components per input element (4: the input is read as vec4s); 1 each by default. */
  variableComponents?: number[];
  /**
   * Consecutive outputs each thread computes: the body then runs for index < uniforms.size / outputsPerThread
   * and writes its outputs with setOutputAtIndex. Default 1 (the body sets output `index`).
   */
  outputsPerThread?: number;
  /** Uniforms that change from call to call (a per-step constant): dispatch-cache.ts does not cache their bytes. */
  volatileUniforms?: boolean;
}

/** One thread per output element (or per outputsPerThread of them): `body` runs with the flat `index`. */
export class ElementwiseProgram implements WebGPUProgram {
  outputShape: number[];
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [WORKGROUP_SIZE, 1, 1];
  size = true;
  variableComponents?: number[];
  volatileUniforms?: boolean;
  /** Volatile uniforms only: this call's program-defined uniforms some steps later (step-replay.ts). */
  uniformsStepsAhead?: (steps: number) => ProgramUniform;
  private readonly outputsPerThread: number;

  constructor(
    readonly variableNames: string[],
    shape: number[],
    readonly shaderKey: string,
    readonly uniforms: string,
    private readonly body: string,
    options: ElementwiseOptions = {},
  ) {
    this.outputShape = shape;
    this.variableComponents = options.variableComponents;
    this.outputsPerThread = options.outputsPerThread ?? 1;
    if (options.volatileUniforms) this.volatileUniforms = true;
    this.dispatchLayout = { x: shape.map((_, dim) => dim) };
    this.dispatch = [workgroupsFor(tf.util.sizeFromShape(shape) / this.outputsPerThread), 1, 1];
  }

  getUserCode(): string {
    const threads = this.outputsPerThread === 1 ? 'uniforms.size' : `uniforms.size / ${this.outputsPerThread}`;
    return `
      fn main(index : i32) {
        if (index < ${threads}) {
          ${this.body}
        }
      }
    `;
  }
}

function workgroupsFor(threads: number): number {
  return Math.ceil(threads / WORKGROUP_SIZE);
}

/** Whether an elementwise program of `threads` threads fits the device's grid. */
export function elementwiseFits(backend: WebGPUBackend, threads: number): boolean {
  return workgroupsFor(threads) <= backend.device.limits.maxComputeWorkgroupsPerDimension;
}

/** The options of a program that reads its `inputs` inputs as vec4s and writes 4 outputs a thread (storeVec4). */
export function vec4Options(inputs: number): ElementwiseOptions {
  return { variableComponents: Array.from({ length: inputs }, () => 4), outputsPerThread: 4 };
}

/**
 * WGSL that stores vec4 `value` as outputs index·4 … index·4 + 3: the body of a program with vec4Options, 4
 * channels a thread where the channel count allows.
 */
export function storeVec4(value: string): string {
  return ['x', 'y', 'z', 'w'].map((lane, j) => `setOutputAtIndex(index * 4 + ${j}, ${value}.${lane});`).join(' ');
}
