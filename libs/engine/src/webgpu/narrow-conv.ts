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

/** WGSL: acc0 … acc{n-1}, zeroed. */
function accumulators(count: number): string {
  return Array.from({ length: count }, (_, c) => `var acc${c} = 0.0;`).join(' ');
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

/** Whether the grid of a narrow forward convolution fits the device (one thread per output pixel). */
export function narrowForwardFits(backend: WebGPUBackend, convInfo: tf.backend_util.Conv2DInfo): boolean {
  const pixels = tf.util.sizeFromShape(convInfo.outShape) / convInfo.outChannels;
  return elementwiseFits(backend, pixels);
}

/** y = conv(x, filter) (+ bias), channels-last, dilation 1, for outChannels ≤ NARROW_MAX_CHANNELS. */
export function narrowForwardConv(
  backend: WebGPUBackend,
  convInfo: tf.backend_util.Conv2DInfo,
  x: tf.TensorInfo,
  filter: tf.TensorInfo,
  bias?: tf.TensorInfo,
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
          let ow = m % OW;
          let oh = (m / OW) % OH;
          let n = m / (OW * OH);
          ${accumulators(outChannels)}
          for (var kh = 0; kh < FH; kh++) {
            let ih = oh * SH + kh - PT;
            if (ih < 0 || ih >= H) { continue; }
            for (var kw = 0; kw < FW; kw++) {
              let iw = ow * SW + kw - PL;
              if (iw < 0 || iw >= W) { continue; }
              let xBase = ((n * H + ih) * W + iw) * C;
              let wBase = (kh * FW + kw) * C;
              ${read}
            }
          }
          ${eachChannel(outChannels, (c) => `setOutputAtIndex(m * N + ${c}, acc${c}${bias ? ` + bias[${c}]` : ''});`)}`,
    { variableComponents: bias ? [components, components, 1] : [components, components], outputsPerThread: outChannels },
  );
  const inputs = bias ? [x, transposed, bias] : [x, transposed];
  const result = backend.runWebGPUProgram(program, inputs, 'float32');
  backend.disposeData(transposed.dataId);
  return result;
}

/** Partial sums a narrow filter gradient writes: enough threads to fill a large GPU, each over a run of pixels. */
export function narrowFilterSplits(convInfo: tf.backend_util.Conv2DInfo): number {
  const outputs = convInfo.filterHeight * convInfo.filterWidth * convInfo.inChannels * convInfo.outChannels;
  const pixels = convInfo.batchSize * convInfo.outHeight * convInfo.outWidth;
  return Math.max(1, Math.min(Math.ceil(pixels / 64), Math.ceil((1 << 20) / outputs)));
}

/**
 * The partial filter gradients [splits, kh·kw·ci·co] of a convolution with outChannels ≤ NARROW_MAX_CHANNELS:
 * split s sums its run of output pixels (sum them over s for dW).
 */
export function narrowFilterGradientPartials(
  backend: WebGPUBackend,
  convInfo: tf.backend_util.Conv2DInfo,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  splits: number,
): tf.TensorInfo {
  const dimK = convInfo.filterHeight * convInfo.filterWidth * convInfo.inChannels;
  const pixels = convInfo.batchSize * convInfo.outHeight * convInfo.outWidth;
  const run = Math.ceil(pixels / splits);
  const outChannels = convInfo.outChannels;
  // a thread computes all outChannels gradients of its filter tap and input channel: it reads x once a pixel
  const program = new ElementwiseProgram(
    ['x', 'dy'],
    [splits, dimK * outChannels],
    `faceganNarrowFilterGrad_${geometryKey(convInfo)}_${splits}_${pixels}`,
    '',
    `${geometryConstants(convInfo)}
          let s = index / ${dimK};
          let k = index - s * ${dimK};
          let ci = k % C;
          let kw = (k / C) % FW;
          let kh = k / (C * FW);
          let first = s * ${run};
          let last = min(first + ${run}, ${pixels});
          var ow = first % OW;
          var oh = (first / OW) % OH;
          var n = first / (OW * OH);
          ${accumulators(outChannels)}
          for (var m = first; m < last; m++) {
            let ih = oh * SH + kh - PT;
            let iw = ow * SW + kw - PL;
            if (ih >= 0 && ih < H && iw >= 0 && iw < W) {
              let xv = x[((n * H + ih) * W + iw) * C + ci];
              ${eachChannel(outChannels, (c) => `acc${c} = fma(xv, dy[m * N + ${c}], acc${c});`)}
            }
            ow++;
            if (ow == OW) {
              ow = 0;
              oh++;
              if (oh == OH) { oh = 0; n++; }
            }
          }
          ${eachChannel(outChannels, (c) => `setOutputAtIndex(index * N + ${c}, acc${c});`)}`,
    { outputsPerThread: outChannels },
  );
  return backend.runWebGPUProgram(program, [x, dy], 'float32');
}

/** Whether the grid of a narrow filter gradient fits the device. */
export function narrowFilterFits(backend: WebGPUBackend, convInfo: tf.backend_util.Conv2DInfo, splits: number): boolean {
  const threads = splits * convInfo.filterHeight * convInfo.filterWidth * convInfo.inChannels;
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
