import * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { ElementwiseProgram, elementwiseFits } from './elementwise-program';

/**
 * Convolutions with at most NARROW_MAX_CHANNELS output channels (the generator's last layer: 3 colour
 * channels), or input channels for the input gradient (the discriminator's first layer), whose GEMMs have
 * N ≤ 4: in the tiled GEMMs a workgroup's 16 columns of threads then compute 13 zeros for every 3 outputs, and
 * each staged K-slice feeds a sixteenth of the multiply-adds it feeds in a wide layer (on lavapipe, in the
 * default plans, such a layer ran at 1/10 to 1/30 of the GFLOP/s of the wide ones). Here one thread computes the
 * N outputs of one pixel (forward), of one filter tap and input channel (filter gradient), or one dx element,
 * and walks its whole K from global memory, reading along the channels as vec4s where the channel count allows.
 * A tuning candidate (GemmVariant.narrow) for those problems only.
 *
 * The geometry is baked into each shader (one per layer): its index arithmetic divides by constants.
 */
export const NARROW_MAX_CHANNELS = 4;

/** WGSL: acc0 … acc{n-1}, set to `zero` (0.0, or a vec4 of zeros). */
function accumulators(count: number, zero = '0.0'): string {
  return Array.from({ length: count }, (_, c) => `var acc${c} = ${zero};`).join(' ');
}

/**
 * WGSL: output pixel m's coordinates (ow, oh, n), then `body` for each tap (kh, kw) of its window that falls
 * inside x, with the input row and column ih, iw.
 */
function forEachWindowTap(m: string, body: string): string {
  return `let ow = ${m} % OW;
          let oh = (${m} / OW) % OH;
          let n = ${m} / (OW * OH);
          for (var kh = 0; kh < FH; kh++) {
            let ih = oh * SH + kh - PT;
            if (ih < 0 || ih >= H) { continue; }
            for (var kw = 0; kw < FW; kw++) {
              let iw = ow * SW + kw - PL;
              if (iw < 0 || iw >= W) { continue; }
              ${body}
            }
          }`;
}

function eachChannel(count: number, code: (c: number) => string): string {
  return Array.from({ length: count }, (_, c) => code(c)).join('\n              ');
}

/** The constants every narrow shader declares: sizes, filter, strides, padding. */
function geometryConstants(convInfo: tf.backend_util.Conv2DInfo): string {
  const c = convInfo;
  return `let H = ${c.inHeight}; let W = ${c.inWidth}; let C = ${c.inChannels};
          let OH = ${c.outHeight}; let OW = ${c.outWidth}; let N = ${c.outChannels};
          let FH = ${c.filterHeight}; let FW = ${c.filterWidth};
          let SH = ${c.strideHeight}; let SW = ${c.strideWidth}; let PT = ${c.padInfo.top}; let PL = ${c.padInfo.left};`;
}

function geometryKey(convInfo: tf.backend_util.Conv2DInfo): string {
  const c = convInfo;
  return [c.inHeight, c.inWidth, c.inChannels, c.outHeight, c.outWidth, c.outChannels, c.filterHeight, c.filterWidth, c.strideHeight, c.strideWidth, c.padInfo.top, c.padInfo.left].join('_');
}

/** Output pixels of a row one thread of the blocked forward kernel computes. */
export const NARROW_FORWARD_BLOCK = 4;

/** Whether the blocked forward kernel can run this convolution (vec4 channels, whole blocks of a row). */
export function narrowBlockedForwardApplies(convInfo: tf.backend_util.Conv2DInfo): boolean {
  return convInfo.inChannels % 4 === 0 && convInfo.outWidth % NARROW_FORWARD_BLOCK === 0;
}

/** Whether the grid of a narrow forward convolution fits the device (one thread per output pixel, or block). */
export function narrowForwardFits(backend: WebGPUBackend, convInfo: tf.backend_util.Conv2DInfo, blocked = false): boolean {
  if (blocked && !narrowBlockedForwardApplies(convInfo)) return false;
  const pixels = tf.util.sizeFromShape(convInfo.outShape) / convInfo.outChannels;
  return elementwiseFits(backend, blocked ? pixels / NARROW_FORWARD_BLOCK : pixels);
}

/**
 * y = conv(x, filter) (+ bias), channels-last, dilation 1, for outChannels ≤ NARROW_MAX_CHANNELS; `blocked`
 * (where narrowBlockedForwardApplies) computes NARROW_FORWARD_BLOCK pixels of a row a thread.
 */
export function narrowForwardConv(
  backend: WebGPUBackend,
  convInfo: tf.backend_util.Conv2DInfo,
  x: tf.TensorInfo,
  filter: tf.TensorInfo,
  bias?: tf.TensorInfo,
  blocked = false,
): tf.TensorInfo {
  const { inChannels: channels, outChannels, filterHeight, filterWidth } = convInfo;
  const dimK = filterHeight * filterWidth * channels;
  // the filter as [N, K]: a thread's weights lie along k, as its x values lie along the channels
  const transpose = new ElementwiseProgram(
    ['W'],
    [outChannels, dimK],
    `faceganNarrowFilterTranspose_${outChannels}_${dimK}`,
    '',
    `let c = index / ${dimK};
          let k = index - c * ${dimK};
          setOutputAtIndex(index, W[k * ${outChannels} + c]);`,
  );
  const transposed = backend.runWebGPUProgram(transpose, [filter], 'float32');
  if (blocked && narrowBlockedForwardApplies(convInfo)) {
    const result = backend.runWebGPUProgram(blockedForwardProgram(convInfo, bias !== undefined), bias ? [x, transposed, bias] : [x, transposed], 'float32');
    backend.disposeData(transposed.dataId);
    return result;
  }
  const vectorized = channels % 4 === 0;
  // a thread computes all outputChannels outputs of its pixel: it reads the pixel's window of x once
  const read = vectorized
    ? `for (var ci = 0; ci < C / 4; ci++) {
                let xv = x[xBase / 4 + ci];
                ${eachChannel(outChannels, (c) => `acc${c} = acc${c} + dot(xv, wt[${(c * dimK) / 4} + wBase / 4 + ci]);`)}
              }`
    : `for (var ci = 0; ci < C; ci++) {
                let xv = x[xBase + ci];
                ${eachChannel(outChannels, (c) => `acc${c} = fma(xv, wt[${c * dimK} + wBase + ci], acc${c});`)}
              }`;
  const components = vectorized ? 4 : 1;
  const program = new ElementwiseProgram(
    bias ? ['x', 'wt', 'bias'] : ['x', 'wt'],
    convInfo.outShape,
    `faceganNarrowForwardConv_${geometryKey(convInfo)}_${vectorized}_${bias !== undefined}`,
    '',
    `${geometryConstants(convInfo)}
          let m = index;
          ${accumulators(outChannels)}
          ${forEachWindowTap(
            'm',
            `let xBase = ((n * H + ih) * W + iw) * C;
              let wBase = (kh * FW + kw) * C;
              ${read}`,
          )}
          ${eachChannel(outChannels, (c) => `setOutputAtIndex(m * N + ${c}, acc${c}${bias ? ` + bias[${c}]` : ''});`)}`,
    { variableComponents: bias ? [components, components, 1] : [components, components], outputsPerThread: outChannels },
  );
  const inputs = bias ? [x, transposed, bias] : [x, transposed];
  const result = backend.runWebGPUProgram(program, inputs, 'float32');
  backend.disposeData(transposed.dataId);
  return result;
}

/**
 * The blocked forward kernel: a thread computes NARROW_FORWARD_BLOCK neighbouring output pixels of a row. For
 * each filter row and 4 input channels it loads the weights of all taps once and each x column the block's
 * windows cover once (6 columns for 4 pixels of a 3-wide filter at stride 1, instead of 12), so a load feeds
 * several times the multiply-adds it feeds in the one-pixel kernel.
 */
function blockedForwardProgram(convInfo: tf.backend_util.Conv2DInfo, hasBias: boolean): ElementwiseProgram {
  const { inChannels: channels, outChannels, filterHeight, filterWidth, strideWidth } = convInfo;
  const block = NARROW_FORWARD_BLOCK;
  const dimK = filterHeight * filterWidth * channels;
  const pixels = Array.from({ length: block }, (_, p) => p);
  const taps = Array.from({ length: filterWidth }, (_, kw) => kw);
  const outs = Array.from({ length: outChannels }, (_, c) => c);
  // the x columns the block reads, as offsets from its first pixel's window: p·SW + kw
  const columns = [...new Set(pixels.flatMap((p) => taps.map((kw) => p * strideWidth + kw)))].sort((a, b) => a - b);
  const lines = (items: string[]) => items.join('\n              ');
  const body = `${geometryConstants(convInfo)}
          let m0 = index * ${block};
          let ow0 = m0 % OW;
          let oh = (m0 / OW) % OH;
          let n = m0 / (OW * OH);
          ${lines(pixels.flatMap((p) => outs.map((c) => `var acc${p}_${c} = 0.0;`)))}
          ${lines(columns.map((o) => `let iw${o} = ow0 * SW + ${o} - PL; let in${o} = iw${o} >= 0 && iw${o} < W; let cw${o} = clamp(iw${o}, 0, W - 1);`))}
          for (var kh = 0; kh < FH; kh++) {
            let ih = oh * SH + kh - PT;
            if (ih < 0 || ih >= H) { continue; }
            let row = (n * H + ih) * W;
            let wRow = kh * FW * (C / 4);
            for (var ci = 0; ci < C / 4; ci++) {
              ${lines(taps.flatMap((kw) => outs.map((c) => `let w${kw}_${c} = wt[${(c * dimK) / 4} + wRow + ${(kw * channels) / 4} + ci];`)))}
              ${lines(columns.map((o) => `let x${o} = select(vec4<f32>(0.0), x[(row + cw${o}) * (C / 4) + ci], in${o});`))}
              ${lines(pixels.flatMap((p) => taps.flatMap((kw) => outs.map((c) => `acc${p}_${c} = acc${p}_${c} + dot(x${p * strideWidth + kw}, w${kw}_${c});`))))}
            }
          }
          ${lines(pixels.flatMap((p) => outs.map((c) => `setOutputAtIndex((m0 + ${p}) * N + ${c}, acc${p}_${c}${hasBias ? ` + bias[${c}]` : ''});`)))}`;
  return new ElementwiseProgram(
    hasBias ? ['x', 'wt', 'bias'] : ['x', 'wt'],
    convInfo.outShape,
    `faceganNarrowBlockedForwardConv_${geometryKey(convInfo)}_${hasBias}`,
    '',
    body,
    { variableComponents: hasBias ? [4, 4, 1] : [4, 4], outputsPerThread: block * outChannels },
  );
}

/** Columns of the taps GEMM's output: taps × outChannels, rounded up to a multiple of 4 (vec4 tiles). */
function tapColumns(convInfo: tf.backend_util.Conv2DInfo): number {
  return Math.ceil((convInfo.filterHeight * convInfo.filterWidth * convInfo.outChannels) / 4) * 4;
}

/** The filter shape of the taps form's 1×1 GEMM, [1, 1, inChannels, tap columns] (for checking its plan). */
export function narrowTapsGemmFilterShape(convInfo: tf.backend_util.Conv2DInfo): [number, number, number, number] {
  return [1, 1, convInfo.inChannels, tapColumns(convInfo)];
}

/** Whether the taps form fits the device (the GEMM's own plan is checked where it runs). */
export function narrowTapsForwardFits(backend: WebGPUBackend, convInfo: tf.backend_util.Conv2DInfo): boolean {
  return elementwiseFits(backend, tf.util.sizeFromShape(convInfo.outShape));
}

/**
 * y = conv(x, filter) (+ bias) for outChannels ≤ NARROW_MAX_CHANNELS as z = x · W' (a 1×1 convolution, run by
 * `gemm`: the project's tiled GEMM, whose workgroups read x's channels coalesced, which the one-thread-per-pixel
 * kernels do not: their neighbouring threads read pixels 512 bytes apart), W'[ci, t·N + c] = W[t, ci, c], so that
 * z holds each input pixel's contribution to every tap's outputs; then y[p, c] = Σ over the taps t of
 * z[p + t, t·N + c] (+ bias), one thread per output.
 */
export function narrowTapsForwardConv(
  backend: WebGPUBackend,
  convInfo: tf.backend_util.Conv2DInfo,
  x: tf.TensorInfo,
  filter: tf.TensorInfo,
  bias: tf.TensorInfo | undefined,
  gemm: (x: tf.TensorInfo, filter: tf.TensorInfo) => tf.TensorInfo,
): tf.TensorInfo {
  const { inChannels: channels, outChannels, filterHeight, filterWidth } = convInfo;
  const taps = filterHeight * filterWidth;
  const columns = tapColumns(convInfo);
  const tapFilter = new ElementwiseProgram(
    ['W'],
    [1, 1, channels, columns],
    `faceganNarrowTapsFilter_${channels}_${outChannels}_${taps}`,
    '',
    `let ci = index / ${columns};
          let j = index - ci * ${columns};
          var value = 0.0;
          if (j < ${taps * outChannels}) {
            let t = j / ${outChannels};
            value = W[(t * ${channels} + ci) * ${outChannels} + j - t * ${outChannels}];
          }
          setOutputAtIndex(index, value);`,
  );
  const weights = backend.runWebGPUProgram(tapFilter, [filter], 'float32');
  const z = gemm(x, weights);
  backend.disposeData(weights.dataId);
  const tapSum = new ElementwiseProgram(
    bias ? ['z', 'bias'] : ['z'],
    convInfo.outShape,
    `faceganNarrowTapsSum_${geometryKey(convInfo)}_${bias !== undefined}`,
    '',
    `${geometryConstants(convInfo)}
          let c = index % N;
          var acc = 0.0;
          ${forEachWindowTap('index / N', `acc = acc + z[((n * H + ih) * W + iw) * ${columns} + (kh * FW + kw) * N + c];`)}
          setOutputAtIndex(index, acc${bias ? ' + bias[c]' : ''});`,
  );
  const result = backend.runWebGPUProgram(tapSum, bias ? [z, bias] : [z], 'float32');
  backend.disposeData(z.dataId);
  return result;
}

/** Whether the taps form of the filter gradient fits the device (one thread per input pixel, and per filter element). */
export function narrowTapsFilterFits(backend: WebGPUBackend, convInfo: tf.backend_util.Conv2DInfo): boolean {
  const pixels = convInfo.batchSize * convInfo.inHeight * convInfo.inWidth;
  const filterSize = convInfo.filterHeight * convInfo.filterWidth * convInfo.inChannels * convInfo.outChannels;
  return elementwiseFits(backend, pixels) && elementwiseFits(backend, filterSize);
}

/**
 * dW of a convolution with outChannels ≤ NARROW_MAX_CHANNELS in the taps form: d[q, t·N + c] = the dy that
 * input pixel q meets through tap t (0 where none: the border, and between strides), so that
 * dW'[ci, t·N + c] = Σ over q of x[q, ci]·d[q, t·N + c] is a 1×1 convolution's filter gradient, run by `gemm` (the
 * project's tiled, split-K GEMM, reading x coalesced), then rearranged to [kh, kw, ci, co].
 */
export function narrowTapsFilterGradient(
  backend: WebGPUBackend,
  convInfo: tf.backend_util.Conv2DInfo,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  gemm: (x: tf.TensorInfo, d: tf.TensorInfo, filterShape: [number, number, number, number]) => tf.TensorInfo,
): tf.TensorInfo {
  const { batchSize, inHeight, inWidth, inChannels: channels, outChannels, filterHeight, filterWidth } = convInfo;
  const taps = filterHeight * filterWidth;
  const columns = tapColumns(convInfo);
  // one thread per input pixel q = (n, ih, iw): its `columns` values
  const spread = new ElementwiseProgram(
    ['dy'],
    [batchSize, inHeight, inWidth, columns],
    `faceganNarrowTapsSpread_${geometryKey(convInfo)}`,
    '',
    `${geometryConstants(convInfo)}
          let iw = index % W;
          let ih = (index / W) % H;
          let n = index / (W * H);
          for (var t = 0; t < ${taps}; t++) {
            let kh = t / FW;
            let kw = t - kh * FW;
            let th = ih + PT - kh;
            let tw = iw + PL - kw;
            let reached = th >= 0 && tw >= 0 && th % SH == 0 && tw % SW == 0 && th / SH < OH && tw / SW < OW;
            let at = select(0, ((n * OH + th / SH) * OW + tw / SW) * N, reached);
            for (var c = 0; c < N; c++) {
              setOutputAtIndex(index * ${columns} + t * N + c, select(0.0, dy[at + c], reached));
            }
          }
          for (var j = ${taps * outChannels}; j < ${columns}; j++) {
            setOutputAtIndex(index * ${columns} + j, 0.0);
          }`,
    { outputsPerThread: columns },
  );
  const spreadDy = backend.runWebGPUProgram(spread, [dy], 'float32');
  const tapGradients = gemm(x, spreadDy, [1, 1, channels, columns]);
  backend.disposeData(spreadDy.dataId);
  const gather = new ElementwiseProgram(
    ['g'],
    [filterHeight, filterWidth, channels, outChannels],
    `faceganNarrowTapsGather_${channels}_${outChannels}_${taps}`,
    '',
    `let c = index % ${outChannels};
          let ci = (index / ${outChannels}) % ${channels};
          let t = index / (${outChannels} * ${channels});
          setOutputAtIndex(index, g[ci * ${columns} + t * ${outChannels} + c]);`,
  );
  const result = backend.runWebGPUProgram(gather, [tapGradients], 'float32');
  backend.disposeData(tapGradients.dataId);
  return result;
}

/** Whether the blocked filter gradient can run this convolution (input channels read as vec4s). */
export function narrowBlockedFilterApplies(convInfo: tf.backend_util.Conv2DInfo): boolean {
  return convInfo.inChannels % 4 === 0;
}

/** Input channels one thread of a narrow filter gradient computes: 4 when blocked (where it applies), else 1. */
function filterLanes(convInfo: tf.backend_util.Conv2DInfo, blocked: boolean): 1 | 4 {
  return blocked && narrowBlockedFilterApplies(convInfo) ? 4 : 1;
}

/**
 * Partial sums a narrow filter gradient writes: enough threads to fill a large GPU (about 2^20), each over a run
 * of at least 64 pixels.
 */
export function narrowFilterSplits(convInfo: tf.backend_util.Conv2DInfo, blocked = false): number {
  const threadsPerSplit = (convInfo.filterHeight * convInfo.filterWidth * convInfo.inChannels) / filterLanes(convInfo, blocked);
  const pixels = convInfo.batchSize * convInfo.outHeight * convInfo.outWidth;
  return Math.max(1, Math.min(Math.ceil(pixels / 64), Math.ceil((1 << 20) / threadsPerSplit)));
}

/**
 * The partial filter gradients [splits, kh·kw·ci·co] of a convolution with outChannels ≤ NARROW_MAX_CHANNELS:
 * split s sums its run of output pixels (sum them over s for dW). A thread computes all outChannels gradients
 * of its filter tap and input channel, or (`blocked`, where narrowBlockedFilterApplies) of 4 input channels,
 * reading them as one vec4: each dy value it loads then feeds 4 multiply-adds instead of 1.
 */
export function narrowFilterGradientPartials(
  backend: WebGPUBackend,
  convInfo: tf.backend_util.Conv2DInfo,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  splits: number,
  blocked = false,
): tf.TensorInfo {
  const dimK = convInfo.filterHeight * convInfo.filterWidth * convInfo.inChannels;
  const pixels = convInfo.batchSize * convInfo.outHeight * convInfo.outWidth;
  const run = Math.ceil(pixels / splits);
  const outChannels = convInfo.outChannels;
  const lanes = filterLanes(convInfo, blocked);
  const threadsPerSplit = dimK / lanes;
  const program = new ElementwiseProgram(
    ['x', 'dy'],
    [splits, dimK * outChannels],
    `faceganNarrowFilterGrad_${geometryKey(convInfo)}_${splits}_${pixels}_${lanes}`,
    '',
    `${geometryConstants(convInfo)}
          let s = index / ${threadsPerSplit};
          let k = index - s * ${threadsPerSplit};
          let ci = k % (C / ${lanes});
          let kw = (k / (C / ${lanes})) % FW;
          let kh = k / ((C / ${lanes}) * FW);
          let first = s * ${run};
          let last = min(first + ${run}, ${pixels});
          var ow = first % OW;
          var oh = (first / OW) % OH;
          var n = first / (OW * OH);
          ${accumulators(outChannels, lanes === 4 ? 'vec4<f32>(0.0)' : '0.0')}
          for (var m = first; m < last; m++) {
            let ih = oh * SH + kh - PT;
            let iw = ow * SW + kw - PL;
            if (ih >= 0 && ih < H && iw >= 0 && iw < W) {
              let xv = x[((n * H + ih) * W + iw) * (C / ${lanes}) + ci];
              ${eachChannel(outChannels, (c) => `acc${c} = fma(xv, ${lanes === 4 ? `vec4<f32>(dy[m * N + ${c}])` : `dy[m * N + ${c}]`}, acc${c});`)}
            }
            ow++;
            if (ow == OW) {
              ow = 0;
              oh++;
              if (oh == OH) { oh = 0; n++; }
            }
          }
          ${
            lanes === 4
              ? Array.from({ length: 4 }, (_, j) => eachChannel(outChannels, (c) => `setOutputAtIndex((index * 4 + ${j}) * N + ${c}, acc${c}[${j}]);`)).join('\n          ')
              : eachChannel(outChannels, (c) => `setOutputAtIndex(index * N + ${c}, acc${c});`)
          }`,
    { outputsPerThread: outChannels * lanes, variableComponents: [lanes, 1] },
  );
  return backend.runWebGPUProgram(program, [x, dy], 'float32');
}

/** Whether the grid of a narrow filter gradient fits the device. */
export function narrowFilterFits(backend: WebGPUBackend, convInfo: tf.backend_util.Conv2DInfo, splits: number, blocked = false): boolean {
  if (blocked && !narrowBlockedFilterApplies(convInfo)) return false;
  const threads = (splits * convInfo.filterHeight * convInfo.filterWidth * convInfo.inChannels) / filterLanes(convInfo, blocked);
  return elementwiseFits(backend, threads);
}

/** Whether the grid of a narrow input gradient fits the device (one thread per dx element). */
export function narrowInputGradientFits(backend: WebGPUBackend, convInfo: tf.backend_util.Conv2DInfo): boolean {
  return elementwiseFits(backend, tf.util.sizeFromShape(convInfo.inShape));
}

/**
 * dx of a convolution with inChannels ≤ NARROW_MAX_CHANNELS: each thread sums, over the taps that reach its
 * pixel, dy's channels against the filter's (both contiguous along co: vec4 reads where co allows).
 */
export function narrowInputGradient(backend: WebGPUBackend, convInfo: tf.backend_util.Conv2DInfo, dy: tf.TensorInfo, filter: tf.TensorInfo): tf.TensorInfo {
  const vectorized = convInfo.outChannels % 4 === 0;
  const read = vectorized
    ? `for (var co = 0; co < N / 4; co++) { acc = acc + dot(dy[dyBase / 4 + co], weights[wBase / 4 + co]); }`
    : `for (var co = 0; co < N; co++) { acc = fma(dy[dyBase + co], weights[wBase + co], acc); }`;
  const program = new ElementwiseProgram(
    ['dy', 'weights'],
    convInfo.inShape,
    `faceganNarrowInputGrad_${geometryKey(convInfo)}_${vectorized}`,
    '',
    `${geometryConstants(convInfo)}
          let c = index % C;
          let p = index / C;
          let iw = p % W;
          let ih = (p / W) % H;
          let n = p / (W * H);
          var acc = 0.0;
          for (var kh = 0; kh < FH; kh++) {
            let th = ih + PT - kh;
            if (th < 0 || th % SH != 0 || th / SH >= OH) { continue; }
            let oh = th / SH;
            for (var kw = 0; kw < FW; kw++) {
              let tw = iw + PL - kw;
              if (tw < 0 || tw % SW != 0 || tw / SW >= OW) { continue; }
              let ow = tw / SW;
              let dyBase = ((n * OH + oh) * OW + ow) * N;
              let wBase = ((kh * FW + kw) * C + c) * N;
              ${read}
            }
          }
          setOutputAtIndex(index, acc);`,
    { variableComponents: vectorized ? [4, 4] : [1, 1] },
  );
  return backend.runWebGPUProgram(program, [dy, filter], 'float32');
}
