import type * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { PHASE_DEINTERLEAVE, PHASE_INTERLEAVE, SUB_PIXEL_FILTER, SUB_PIXEL_FILTER_GRAD } from '@facegan/model';
import { ElementwiseProgram } from './elementwise-program';
import { webGpuKernel } from './webgpu-kernel';

/**
 * The data-movement kernels of the generator's sub-pixel upsample + conv (libs/model/src/upsample-conv.ts)
 * on webgpu, one thread per output element, for any integer scale s ≥ 2 (baked into the shader as S).
 * Registering them makes UpsampleConv2D take the sub-pixel path here too (about half the convolution work
 * of UpSampling2D + Conv2D).
 *
 * Each program reads its coordinates and sizes from what tfjs generates for every program: the output's
 * getCoordsFromIndex(index) and the `<input>Shape` / `outShape` uniforms (vec4 for these rank-4 tensors).
 *
 * Per axis, phase a's 2×2 window sits at offset e(a) = (a == S − 1) in the padded input, and the 3×3
 * filter's tap t lands on the window's tap ⌊(a + t − 1)/S⌋ + 1 − e(a) = (a + t + S − 1)/S − e(a) in
 * integer division (subPixelPhaseOffset and subPixelTap in the model).
 */
function subPixelKernel(
  kernelName: string,
  inputName: string,
  outputShape: (input: tf.TensorInfo, scale: number) => number[],
  body: string,
): tf.KernelConfig {
  return webGpuKernel<Record<string, tf.TensorInfo>>(kernelName, (args) => {
    const input = args.inputs[inputName];
    const { scale } = args.attrs as unknown as { scale: number };
    const code = `let S = ${scale};\n          ${body}`;
    // ('filter' is a WGSL keyword: the program's names are its own)
    const program = new ElementwiseProgram(['source'], outputShape(input, scale), `${kernelName}-${scale}`, '', code);
    return (args.backend as WebGPUBackend).runWebGPUProgram(program, [input], 'float32');
  });
}

/** filter [3, 3, ci, co] -> [2, 2, ci, S²·co]. */
export const subPixelFilterWebGpuKernel = subPixelKernel(
  SUB_PIXEL_FILTER,
  'filter',
  ({ shape: [, , ci, co] }, scale) => [2, 2, ci, scale * scale * co],
  `let coords = getCoordsFromIndex(index); // (u, v, i, (S·a + c)·co + o)
          let ci = uniforms.sourceShape.z;
          let co = uniforms.sourceShape.w;
          let a = coords.w / co / S;
          let c = coords.w / co % S;
          let o = coords.w % co;
          var sum = 0.0;
          for (var t = 0; t < 3; t++) {
            if ((a + t + S - 1) / S - i32(a == S - 1) != coords.x) { continue; }
            for (var s = 0; s < 3; s++) {
              if ((c + s + S - 1) / S - i32(c == S - 1) != coords.y) { continue; }
              sum += source[((t * 3 + s) * ci + coords.z) * co + o];
            }
          }
          result[index] = sum;`,
);

/** dFilter [2, 2, ci, S²·co] -> [3, 3, ci, co] (the adjoint of the filter kernel). */
export const subPixelFilterGradWebGpuKernel = subPixelKernel(
  SUB_PIXEL_FILTER_GRAD,
  'dFilter',
  ({ shape: [, , ci, depth] }, scale) => [3, 3, ci, depth / (scale * scale)],
  `let coords = getCoordsFromIndex(index); // (t, s, i, o)
          let ci = uniforms.outShape.z;
          let co = uniforms.outShape.w;
          var sum = 0.0;
          for (var a = 0; a < S; a++) {
            let u = (a + coords.x + S - 1) / S - i32(a == S - 1);
            for (var c = 0; c < S; c++) {
              let v = (c + coords.y + S - 1) / S - i32(c == S - 1);
              sum += source[((u * 2 + v) * ci + coords.z) * S * S * co + (S * a + c) * co + coords.w];
            }
          }
          result[index] = sum;`,
);

/** z [b, h+1, w+1, S²·co] -> y [b, S·h, S·w, co]: y[n, S·i+a, S·j+c, o] = z[n, i+e(a), j+e(c), (S·a+c)·co + o]. */
export const phaseInterleaveWebGpuKernel = subPixelKernel(
  PHASE_INTERLEAVE,
  'x',
  ({ shape: [batch, zh, zw, depth] }, scale) => [batch, scale * (zh - 1), scale * (zw - 1), depth / (scale * scale)],
  `let coords = getCoordsFromIndex(index); // (n, row, col, o)
          let z = uniforms.sourceShape;
          let a = coords.y % S;
          let c = coords.z % S;
          let zRow = coords.x * z.y + coords.y / S + i32(a == S - 1);
          result[index] = source[(zRow * z.z + coords.z / S + i32(c == S - 1)) * z.w + (S * a + c) * uniforms.outShape.w + coords.w];`,
);

/** dy [b, S·h, S·w, co] -> dz [b, h+1, w+1, S²·co], zeros where no output reads (the adjoint of the interleave). */
export const phaseDeinterleaveWebGpuKernel = subPixelKernel(
  PHASE_DEINTERLEAVE,
  'dy',
  ({ shape: [batch, yh, yw, co] }, scale) => [batch, yh / scale + 1, yw / scale + 1, scale * scale * co],
  `let coords = getCoordsFromIndex(index); // (n, i + e(a), j + e(c), (S·a + c)·co + o)
          let y = uniforms.sourceShape;
          let a = coords.w / y.w / S;
          let c = coords.w / y.w % S;
          let i = coords.y - i32(a == S - 1);
          let j = coords.z - i32(c == S - 1);
          var value = 0.0;
          if (i >= 0 && S * i < y.y && j >= 0 && S * j < y.z) {
            value = source[((coords.x * y.y + S * i + a) * y.z + S * j + c) * y.w + coords.w % y.w];
          }
          result[index] = value;`,
);

export const subPixelWebGpuKernels = [
  subPixelFilterWebGpuKernel,
  subPixelFilterGradWebGpuKernel,
  phaseInterleaveWebGpuKernel,
  phaseDeinterleaveWebGpuKernel,
];
