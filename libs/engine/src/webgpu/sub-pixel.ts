import type * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { PHASE_DEINTERLEAVE, PHASE_INTERLEAVE, SUB_PIXEL_FILTER, SUB_PIXEL_FILTER_GRAD } from '@facegan/model';
import { ElementwiseProgram } from './elementwise-program';
import { webGpuKernel, type KernelArgs } from './webgpu-kernel';

/**
 * The data-movement kernels of the generator's sub-pixel upsample + conv (libs/model/src/upsample-conv.ts)
 * on webgpu, one thread per output element. Registering them makes UpsampleConv2D take the sub-pixel
 * path here too (about half the convolution work of UpSampling2D + Conv2D).
 *
 * Per filter axis, phase a's tap u sums the 3×3 filter's taps T[a][u] (SUB_PIXEL_TAPS): T[0][0] = {0},
 * T[0][1] = {1, 2}, T[1][0] = {0, 1}, T[1][1] = {2}, i.e. t from u·(1 + a) to a + u·(2 − a); and the tap
 * of phase a that holds t is u = (t > 0) for a = 0, (t > 1) for a = 1.
 */
const int = (values: number[]) => ({ type: 'int32', data: values });

function run(args: KernelArgs<Record<string, tf.TensorInfo>>, program: ElementwiseProgram, inputs: tf.TensorInfo[], uniforms: number[]): tf.TensorInfo {
  return (args.backend as WebGPUBackend).runWebGPUProgram(program, inputs, 'float32', [int(uniforms)]);
}

/** filter [3, 3, ci, co] -> [2, 2, ci, 4·co]. */
export const subPixelFilterWebGpuKernel = webGpuKernel<Record<string, tf.TensorInfo>>(SUB_PIXEL_FILTER, (args) => {
  const { filter } = args.inputs;
  const [, , ci, co] = filter.shape;
  const program = new ElementwiseProgram(
    ['weights'], // ('filter' is a WGSL keyword)
    [2, 2, ci, 4 * co],
    'faceganSubPixelFilter',
    'ci : i32, co : i32,',
    `let o = index % uniforms.co;
          var r = index / uniforms.co;
          let g = r % 4;
          r = r / 4;
          let i = r % uniforms.ci;
          r = r / uniforms.ci;
          let v = r % 2;
          let u = r / 2;
          let a = g / 2;
          let c = g % 2;
          var sum = 0.0;
          for (var t = u * (1 + a); t <= a + u * (2 - a); t++) {
            for (var s = v * (1 + c); s <= c + v * (2 - c); s++) {
              sum += weights[((t * 3 + s) * uniforms.ci + i) * uniforms.co + o];
            }
          }
          result[index] = sum;`,
  );
  return run(args, program, [filter], [ci, co]);
});

/** dFilter [2, 2, ci, 4·co] -> [3, 3, ci, co] (the adjoint of the filter kernel). */
export const subPixelFilterGradWebGpuKernel = webGpuKernel<Record<string, tf.TensorInfo>>(SUB_PIXEL_FILTER_GRAD, (args) => {
  const { dFilter } = args.inputs;
  const [, , ci, depth] = dFilter.shape;
  const co = depth / 4;
  const program = new ElementwiseProgram(
    ['dFilter'],
    [3, 3, ci, co],
    'faceganSubPixelFilterGrad',
    'ci : i32, co : i32,',
    `let o = index % uniforms.co;
          var r = index / uniforms.co;
          let i = r % uniforms.ci;
          r = r / uniforms.ci;
          let s = r % 3;
          let t = r / 3;
          var sum = 0.0;
          for (var a = 0; a < 2; a++) {
            let u = select(i32(t > 0), i32(t > 1), a == 1);
            for (var c = 0; c < 2; c++) {
              let v = select(i32(s > 0), i32(s > 1), c == 1);
              sum += dFilter[((u * 2 + v) * uniforms.ci + i) * 4 * uniforms.co + (2 * a + c) * uniforms.co + o];
            }
          }
          result[index] = sum;`,
  );
  return run(args, program, [dFilter], [ci, co]);
});

/** z [b, h+1, w+1, 4·co] -> y [b, 2h, 2w, co]: y[n, 2i+a, 2j+c, o] = z[n, i+a, j+c, (2a+c)·co + o]. */
export const phaseInterleaveWebGpuKernel = webGpuKernel<Record<string, tf.TensorInfo>>(PHASE_INTERLEAVE, (args) => {
  const { x } = args.inputs;
  const [batch, zh, zw, depth] = x.shape;
  const [h, w, co] = [zh - 1, zw - 1, depth / 4];
  const program = new ElementwiseProgram(
    ['x'],
    [batch, 2 * h, 2 * w, co],
    'faceganPhaseInterleave',
    'h : i32, w : i32, co : i32,',
    `let o = index % uniforms.co;
          var r = index / uniforms.co;
          let col = r % (2 * uniforms.w);
          r = r / (2 * uniforms.w);
          let row = r % (2 * uniforms.h);
          let n = r / (2 * uniforms.h);
          let a = row % 2;
          let c = col % 2;
          let zRow = n * (uniforms.h + 1) + row / 2 + a;
          result[index] = x[((zRow * (uniforms.w + 1)) + col / 2 + c) * 4 * uniforms.co + (2 * a + c) * uniforms.co + o];`,
  );
  return run(args, program, [x], [h, w, co]);
});

/** dy [b, 2h, 2w, co] -> dz [b, h+1, w+1, 4·co], zeros where no output reads (the adjoint of the interleave). */
export const phaseDeinterleaveWebGpuKernel = webGpuKernel<Record<string, tf.TensorInfo>>(PHASE_DEINTERLEAVE, (args) => {
  const { dy } = args.inputs;
  const [batch, yh, yw, co] = dy.shape;
  const [h, w] = [yh / 2, yw / 2];
  const program = new ElementwiseProgram(
    ['dy'],
    [batch, h + 1, w + 1, 4 * co],
    'faceganPhaseDeinterleave',
    'h : i32, w : i32, co : i32,',
    `let o = index % uniforms.co;
          var r = index / uniforms.co;
          let g = r % 4;
          r = r / 4;
          let zc = r % (uniforms.w + 1);
          r = r / (uniforms.w + 1);
          let zr = r % (uniforms.h + 1);
          let n = r / (uniforms.h + 1);
          let a = g / 2;
          let c = g % 2;
          let i = zr - a;
          let j = zc - c;
          var value = 0.0;
          if (i >= 0 && i < uniforms.h && j >= 0 && j < uniforms.w) {
            value = dy[((n * 2 * uniforms.h + 2 * i + a) * 2 * uniforms.w + 2 * j + c) * uniforms.co + o];
          }
          result[index] = value;`,
  );
  return run(args, program, [dy], [h, w, co]);
});

export const subPixelWebGpuKernels = [
  subPixelFilterWebGpuKernel,
  subPixelFilterGradWebGpuKernel,
  phaseInterleaveWebGpuKernel,
  phaseDeinterleaveWebGpuKernel,
];
