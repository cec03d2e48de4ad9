import type * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { PHASE_DEINTERLEAVE, PHASE_INTERLEAVE, phaseGroup, SUB_PIXEL_FILTER, SUB_PIXEL_FILTER_GRAD, type PhaseGroup } from '@facegan/model';
import { ElementwiseProgram, storeVec4, vec4Options } from './elementwise-program';
import { webGpuKernel } from './webgpu-kernel';

/**
 * The data-movement kernels of the generator's sub-pixel upsample + conv (libs/model/src/upsample-conv.ts)
 * on webgpu, one thread per output element, for any integer scale s ≥ 2 and each of its phase groups (both
 * baked into the shader: S, and the group's kinds of rows and columns). Registering them makes UpsampleConv2D
 * take the sub-pixel path here too.
 *
 * Each program reads its coordinates and sizes from what tfjs generates for every program: the output's
 * getCoordsFromIndex(index) and the `<input>Shape` / `outShape` uniforms (vec4 for these rank-4 tensors).
 *
 * Per axis, an edge phase a (0 or S − 1) has a 2-tap window at offset e(a) = (a == S − 1) in the input padded
 * by 1, and the 3×3 filter's tap t lands on its tap (a + t + S − 1)/S − e(a) (integer division); a middle
 * phase (1 … S − 2) has one tap, which every t lands on (subPixelTap in the model). A group's phase block p is
 * (its row phase's place)·cols + (its column phase's place).
 */

interface Attrs {
  scale: number;
  group: number;
}

/** WGSL for one axis of a group: the phase of place `place`, its window offset, the window tap of filter tap `t`. */
function axisCode(edge: boolean) {
  return {
    phase: (place: string) => (edge ? `select(0, S - 1, ${place} == 1)` : `(${place} + 1)`),
    offset: (phase: string) => (edge ? `i32(${phase} == S - 1)` : '0'),
    tap: (phase: string, t: string) => (edge ? `((${phase} + ${t} + S - 1) / S - i32(${phase} == S - 1))` : '0'),
  };
}

function groupConstants(scale: number, g: PhaseGroup): string {
  return `let S = ${scale};
          let COLS = ${g.cols};
          let KW = ${g.filterWidth};`;
}

function subPixelKernel(
  kernelName: string,
  inputName: string,
  outputShape: (input: tf.TensorInfo, g: PhaseGroup, scale: number) => number[],
  body: (g: PhaseGroup) => string,
  vec4Body?: (g: PhaseGroup) => string,
): tf.KernelConfig {
  return webGpuKernel<Record<string, tf.TensorInfo>>(kernelName, (args) => {
    const input = args.inputs[inputName];
    const { scale, group } = args.attrs as unknown as Attrs;
    const g = phaseGroup(scale, group);
    const vectorized = vec4Body !== undefined && input.shape[3] % 4 === 0;
    const code = `${groupConstants(scale, g)}
          ${vectorized ? vec4Body(g) : body(g)}`;
    // ('filter' is a WGSL keyword: the program's names are its own)
    const program = new ElementwiseProgram(
      ['source'],
      outputShape(input, g, scale),
      `${kernelName}-${scale}-${group}${vectorized ? '-vec4' : ''}`,
      '',
      code,
      // the phase (de)interleave: one vec4 load instead of four scalar ones (a thread's first output channel is a multiple of 4)
      vectorized ? vec4Options(1) : {},
    );
    return (args.backend as WebGPUBackend).runWebGPUProgram(program, [input], 'float32');
  });
}

/** filter [3, 3, ci, co] -> group g's [kh, kw, ci, phases·co]. */
export const subPixelFilterWebGpuKernel = subPixelKernel(
  SUB_PIXEL_FILTER,
  'filter',
  ({ shape: [, , ci, co] }, g) => [g.filterHeight, g.filterWidth, ci, g.rows * g.cols * co],
  (g) => {
    const rows = axisCode(g.rowEdge);
    const cols = axisCode(g.colEdge);
    return `let coords = getCoordsFromIndex(index); // (u, v, i, p·co + o)
          let ci = uniforms.sourceShape.z;
          let co = uniforms.sourceShape.w;
          let p = coords.w / co;
          let a = ${rows.phase('p / COLS')};
          let c = ${cols.phase('p % COLS')};
          let o = coords.w % co;
          var sum = 0.0;
          for (var t = 0; t < 3; t++) {
            if (${rows.tap('a', 't')} != coords.x) { continue; }
            for (var s = 0; s < 3; s++) {
              if (${cols.tap('c', 's')} != coords.y) { continue; }
              sum += source[((t * 3 + s) * ci + coords.z) * co + o];
            }
          }
          result[index] = sum;`;
  },
);

/** Group g's dFilter [kh, kw, ci, phases·co] -> [3, 3, ci, co] (the adjoint of the filter kernel). */
export const subPixelFilterGradWebGpuKernel = subPixelKernel(
  SUB_PIXEL_FILTER_GRAD,
  'dFilter',
  ({ shape: [, , ci, depth] }, g) => [3, 3, ci, depth / (g.rows * g.cols)],
  (g) => {
    const rows = axisCode(g.rowEdge);
    const cols = axisCode(g.colEdge);
    return `let coords = getCoordsFromIndex(index); // (t, s, i, o)
          let ci = uniforms.outShape.z;
          let co = uniforms.outShape.w;
          let depth = uniforms.sourceShape.w;
          var sum = 0.0;
          for (var p = 0; p < ${g.rows * g.cols}; p++) {
            let a = ${rows.phase('p / COLS')};
            let c = ${cols.phase('p % COLS')};
            let u = ${rows.tap('a', 'coords.x')};
            let v = ${cols.tap('c', 'coords.y')};
            sum += source[((u * KW + v) * ci + coords.z) * depth + p * co + coords.w];
          }
          result[index] = sum;`;
  },
);

/** Group g's share of dy [b, S·h, S·w, co] -> dz_g [b, h (+1), w (+1), phases·co], zeros where no output reads (the interleave's adjoint). */
export const phaseDeinterleaveWebGpuKernel = subPixelKernel(
  PHASE_DEINTERLEAVE,
  'dy',
  ({ shape: [batch, yh, yw, co] }, g, scale) => [batch, yh / scale + (g.rowEdge ? 1 : 0), yw / scale + (g.colEdge ? 1 : 0), g.rows * g.cols * co],
  (g) => deinterleaveCode(g, false),
  (g) => deinterleaveCode(g, true),
);

function deinterleaveCode(g: PhaseGroup, vectorized: boolean): string {
  const rows = axisCode(g.rowEdge);
  const cols = axisCode(g.colEdge);
  const sourceIndex = '((coords.x * y.y + S * i + a) * y.z + S * j + c) * y.w + coords.w % y.w';
  return `let coords = getCoordsFromIndex(${vectorized ? 'index * 4' : 'index'}); // (n, i + e(a), j + e(c), p·co + o)
          let y = uniforms.sourceShape;
          let p = coords.w / y.w;
          let a = ${rows.phase('p / COLS')};
          let c = ${cols.phase('p % COLS')};
          let i = coords.y - ${rows.offset('a')};
          let j = coords.z - ${cols.offset('c')};
          var value = ${vectorized ? 'vec4<f32>(0.0)' : '0.0'};
          if (i >= 0 && S * i < y.y && j >= 0 && S * j < y.z) {
            value = source[${vectorized ? `(${sourceIndex}) / 4` : sourceIndex}];
          }
          ${vectorized ? storeVec4('value') : 'result[index] = value;'}`;
}

/** Inputs g0 … g3 (the groups with phases) -> y [b, S·h, S·w, co]: y[n, S·i+a, S·j+c, o] = z_g[n, i+e(a), j+e(c), p·co + o]. */
export const phaseInterleaveWebGpuKernel = webGpuKernel<Record<string, tf.TensorInfo>>(PHASE_INTERLEAVE, (args) => {
  const { scale } = args.attrs as unknown as Attrs;
  const groups = [0, 1, 2, 3].filter((group) => args.inputs[`g${group}`] !== undefined).map((group) => phaseGroup(scale, group));
  const [batch, zh, zw, depth] = args.inputs['g0'].shape;
  const co = depth / 4;
  const vectorized = co % 4 === 0;
  const branch = (g: PhaseGroup) => {
    const rows = axisCode(g.rowEdge);
    const cols = axisCode(g.colEdge);
    const name = `g${g.group}`;
    return `if (${g.rowEdge ? '' : '!'}rowEdge && ${g.colEdge ? '' : '!'}colEdge) {
            let z = uniforms.${name}Shape;
            let rowPlace = ${g.rowEdge ? 'i32(a == S - 1)' : 'a - 1'};
            let colPlace = ${g.colEdge ? 'i32(c == S - 1)' : 'c - 1'};
            let zRow = coords.x * z.y + coords.y / S + ${rows.offset('a')};
            let at = (zRow * z.z + coords.z / S + ${cols.offset('c')}) * z.w + (rowPlace * ${g.cols} + colPlace) * co + coords.w;
            ${vectorized ? storeVec4(`${name}[at / 4]`) : `result[index] = ${name}[at];`}
          }`;
  };
  const program = new ElementwiseProgram(
    groups.map((g) => `g${g.group}`),
    [batch, scale * (zh - 1), scale * (zw - 1), co],
    `${PHASE_INTERLEAVE}-${scale}-${groups.map((g) => g.group).join('')}${vectorized ? '-vec4' : ''}`,
    '',
    `let S = ${scale};
          let coords = getCoordsFromIndex(${vectorized ? 'index * 4' : 'index'}); // (n, row, col, o)
          let co = uniforms.outShape.w;
          let a = coords.y % S;
          let c = coords.z % S;
          let rowEdge = a == 0 || a == S - 1;
          let colEdge = c == 0 || c == S - 1;
          ${groups.map(branch).join(' else ')}`,
    vectorized ? vec4Options(groups.length) : {},
  );
  return (args.backend as WebGPUBackend).runWebGPUProgram(program, groups.map((g) => args.inputs[`g${g.group}`]), 'float32');
});

export const subPixelWebGpuKernels = [
  subPixelFilterWebGpuKernel,
  subPixelFilterGradWebGpuKernel,
  phaseInterleaveWebGpuKernel,
  phaseDeinterleaveWebGpuKernel,
];
