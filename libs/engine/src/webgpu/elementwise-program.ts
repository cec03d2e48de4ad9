import * as tf from '@tensorflow/tfjs';
import type { WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';

const WORKGROUP_SIZE = 64;

/** One thread per output element: `body` runs with the flat `index` (below uniforms.size) and sets result[index]. */
export class ElementwiseProgram implements WebGPUProgram {
  outputShape: number[];
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [WORKGROUP_SIZE, 1, 1];
  size = true;

  constructor(
    readonly variableNames: string[],
    shape: number[],
    readonly shaderKey: string,
    readonly uniforms: string,
    private readonly body: string,
  ) {
    this.outputShape = shape;
    this.dispatchLayout = { x: shape.map((_, dim) => dim) };
    this.dispatch = [Math.ceil(tf.util.sizeFromShape(shape) / WORKGROUP_SIZE), 1, 1];
  }

  getUserCode(): string {
    return `
      fn main(index : i32) {
        if (index < uniforms.size) {
          ${this.body}
        }
      }
    `;
  }
}
