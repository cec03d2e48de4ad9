import type * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { PHASE_DEINTERLEAVE, PHASE_INTERLEAVE, SUB_PIXEL_FILTER, SUB_PIXEL_FILTER_GRAD } from '@facegan/model';
import { ElementwiseProgram } from './elementwise-program';
import { webGpuKernel } from './webgpu-kernel';

/**
 * The data-movement kernels of the generator's sub-pixel upsample + conv (libs/model/src/upsample-conv.ts)
 * on webgpu, one thread per output element. Registering them makes UpsampleConv2D take the sub-pixel
 * path here too (about half the convolution work of UpSampling2D + Conv2D).
 *
 * Each program reads its coordinates and sizes from what tfjs generates for every program: the output's
 * getCoordsFromIndex(index) and the `<input>Shape` / `outShape` uniforms (vec4 for these rank-4 tensors).
 *
 * Per filter axis, phase a's tap u sums the 3×3 filter's taps T[a][u] (SUB_PIXEL_TAPS): T[0][0] = {0},
 * T[0][1] = {1, 2}, T[1][0] = {0, 1}, T[1][1] = {2}, i.e. t from u·(1 + a) to a + u·(2 − a); and the tap
 * of phase a that holds t is u = (t > 0) for a = 0, (t > 1) for a = 1.
 */
function subPixelKernel(kernelName: string, inputName: string, outputShape: (input: tf.TensorInfo) => number[], body: string): tf.KernelConfig {
  return webGpuKernel<Record<string, tf.TensorInfo>>(kernelName, (args) => {
    const input = args.inputs[inputName];
    // ('filter' is a WGSL keyword: the program's names are its own)
    const program = new ElementwiseProgram(['source'], outputShape(input), kernelName, '', body);
    return (args.backend as WebGPUBackend).runWebGPUProgram(program, [input], 'float32');
  });
}

/** filter [3, 3, ci, co] -> [2, 2, ci, 4·co]. */
export const subPixelFilterWebGpuKernel = subPixelKernel(
  SUB_PIXEL_FILTER,
  'filter',
  ({ shape: [, , ci, co] }) => [2, 2, ci, 4 * co],
  `let coords = getCoordsFromIndex(index); // (u, v, i, g·co + o)
          let ci = uniforms.sourceShape.z;
          let co = uniforms.sourceShape.w;
          let a = coords.w / co / 2;
          let c = coords.w / co % 2;
          let o = coords.w % co;
          var sum = 0.0;
          for (var t = coords.x * (1 + a); t <= a + coords.x * (2 - a); t++) {
            for (var s = coords.y * (1 + c); s <= c + coords.y * (2 - c); s++) {
              sum += source[((t * 3 + s) * ci + coords.z) * co + o];
            }
          }
          result[index] = sum;`,
);

/** dFilter [2, 2, ci, 4·co] -> [3, 3, ci, co] (the adjoint of the filter kernel). */
export const subPixelFilterGradWebGpuKernel = subPixelKernel(
  SUB_PIXEL_FILTER_GRAD,
  'dFilter',
  ({ shape: [, , ci, depth] }) => [3, 3, ci, depth / 4],
  `let coords = getCoordsFromIndex(index); // (t, s, i, o)
          let ci = uniforms.outShape.z;
          let co = uniforms.outShape.w;
          var sum = 0.0;
          for (var a = 0; a < 2; a++) {
            let u = select(i32(coords.x > 0), i32(coords.x > 1), a == 1);
            for (var c = 0; c < 2; c++) {
              let v = select(i32(coords.y > 0), i32(coords.y > 1), c == 1);
              sum += source[((u * 2 + v) * ci + coords.z) * 4 * co + (2 * a + c) * co + coords.w];
            }
          }
          result[index] = sum;`,
);

/** z [b, h+1, w+1, 4·co] -> y [b, 2h, 2w, co]: y[n, 2i+a, 2j+c, o] = z[n, i+a, j+c, (2a+c)·co + o]. */
export const phaseInterleaveWebGpuKernel = subPixelKernel(
  PHASE_INTERLEAVE,
  'x',
  ({ shape: [batch, zh, zw, depth] }) => [batch, 2 * (zh - 1), 2 * (zw - 1), depth / 4],
  `let coords = getCoordsFromIndex(index); // (n, row, col, o)
          let z = uniforms.sourceShape;
          let a = coords.y % 2;
          let c = coords.z % 2;
          let zRow = coords.x * z.y + coords.y / 2 + a;
          result[index] = source[(zRow * z.z + coords.z / 2 + c) * z.w + (2 * a + c) * uniforms.outShape.w + coords.w];`,
);

/** dy [b, 2h, 2w, co] -> dz [b, h+1, w+1, 4·co], zeros where no output reads (the adjoint of the interleave). */
export const phaseDeinterleaveWebGpuKernel = subPixelKernel(
  PHASE_DEINTERLEAVE,
  'dy',
  ({ shape: [batch, yh, yw, co] }) => [batch, yh / 2 + 1, yw / 2 + 1, 4 * co],
  `let coords = getCoordsFromIndex(index); // (n, i + a, j + c, (2a + c)·co + o)
          let y = uniforms.sourceShape;
          let a = coords.w / y.w / 2;
          let c = coords.w / y.w % 2;
          let i = coords.y - a;
          let j = coords.z - c;
          var value = 0.0;
          if (i >= 0 && 2 * i < y.y && j >= 0 && 2 * j < y.z) {
            value = source[((coords.x * y.y + 2 * i + a) * y.z + 2 * j + c) * y.w + coords.w % y.w];
          }
          result[index] = value;`,
);

export const subPixelWebGpuKernels = [
  subPixelFilterWebGpuKernel,
  subPixelFilterGradWebGpuKernel,
  phaseInterleaveWebGpuKernel,
  phaseDeinterleaveWebGpuKernel,
];
