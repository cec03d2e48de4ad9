/**
 * Timing script (not a test): GFLOP/s of the wasm Conv2D forward and of both gradients at the seed
 * DCGAN's conv geometries (32 px, width 0.25, batch 32), with the stock wasm kernels ("before") and
 * with registerWasmTrainingKernels() ("after").
 *
 *   npx tsx libs/engine/src/kernels/wasm/bench-kernels.ts [--quick] [--threads N]
 *
 * FLOPs are counted as 2*B*OH*OW*KH*KW*Cin*Cout for all three ops (the useful work; the strided
 * input gradient does ~1.8x that internally).
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmTrainingKernels, unregisterWasmTrainingKernels } from './index';
import { withWasmThreads } from './threads';

interface ConvShape {
  name: string;
  x: [number, number, number, number];
  outC: number;
  stride: number;
}

const B = 32;
const SHAPES: ConvShape[] = [
  { name: 'G conv1  8x8   64->64 ', x: [B, 8, 8, 64], outC: 64, stride: 1 },
  { name: 'G conv2 16x16  64->64 ', x: [B, 16, 16, 64], outC: 64, stride: 1 },
  { name: 'G conv3 32x32  64->32 ', x: [B, 32, 32, 64], outC: 32, stride: 1 },
  { name: 'G out   32x32  32->3  ', x: [B, 32, 32, 32], outC: 3, stride: 1 },
  { name: 'D conv1 32x32   3->8 s2', x: [B, 32, 32, 3], outC: 8, stride: 2 },
  { name: 'D conv2 16x16   8->16 s2', x: [B, 16, 16, 8], outC: 16, stride: 2 },
  { name: 'D conv3  9x9   16->32 s2', x: [B, 9, 9, 16], outC: 32, stride: 2 },
  { name: 'D conv4  5x5   32->64 ', x: [B, 5, 5, 32], outC: 64, stride: 1 },
  { name: 'D conv5  5x5   64->128', x: [B, 5, 5, 64], outC: 128, stride: 1 },
];

const quick = process.argv.includes('--quick');
const threadsArg = process.argv.indexOf('--threads');
const threads = threadsArg === -1 ? 1 : Number(process.argv[threadsArg + 1]);
const BUDGET_MS = quick ? 150 : 600;

/**
 * Best-of ms of `fn` within a time budget. wasm kernels run synchronously, so the time to return is
 * the kernel's time. Best-of rather than median: the box is shared and other jobs only add time.
 */
function timeMs(fn: () => tf.Tensor): number {
  tf.dispose(fn()); // warm-up: heap growth, first-call setup
  let best = Infinity;
  const start = performance.now();
  for (let runs = 0; runs < 3 || (performance.now() - start < BUDGET_MS && runs < 50); runs++) {
    const t0 = performance.now();
    const out = fn();
    best = Math.min(best, performance.now() - t0);
    out.dispose();
  }
  return best;
}

function measure(shape: ConvShape): { forward: number; input: number; filter: number | undefined } {
  const [b, h, w, c] = shape.x;
  const oh = Math.ceil(h / shape.stride);
  const ow = Math.ceil(w / shape.stride);
  const filterShape: [number, number, number, number] = [3, 3, c, shape.outC];
  const x = tf.randomUniform(shape.x, -1, 1);
  const filter = tf.randomUniform(filterShape, -0.2, 0.2);
  const dy = tf.randomUniform([b, oh, ow, shape.outC], -1, 1);
  const attrs = { strides: shape.stride, pad: 'same', dataFormat: 'NHWC', dilations: 1 };
  const run = (kernel: string, inputs: Record<string, tf.Tensor>, extra: object) => () =>
    tf.engine().runKernel(kernel, inputs, { ...attrs, ...extra }) as tf.Tensor;
  const forward = timeMs(run('Conv2D', { x, filter }, {}));
  const input = timeMs(run('Conv2DBackpropInput', { dy, filter }, { inputShape: shape.x }));
  const filterMs =
    tf.getKernel('Conv2DBackpropFilter', 'wasm') === undefined
      ? undefined
      : timeMs(run('Conv2DBackpropFilter', { x, dy }, { filterShape }));
  tf.dispose([x, filter, dy]);
  return { forward, input, filter: filterMs };
}

function gflops(shape: ConvShape): number {
  const [b, h, w, c] = shape.x;
  return (2 * b * Math.ceil(h / shape.stride) * Math.ceil(w / shape.stride) * 9 * c * shape.outC) / 1e9;
}

async function main(): Promise<void> {
  await withWasmThreads(threads, () => tf.setBackend('wasm'));
  console.log(`tfjs ${tf.version.tfjs}, backend ${tf.getBackend()} (${threads} thread${threads === 1 ? '' : 's'}), batch ${B}; cells: ms (GFLOP/s)`);
  const cell = (ms: number | undefined, work: number) =>
    ms === undefined ? 'not registered'.padStart(17) : `${ms.toFixed(2).padStart(8)} (${(work / (ms / 1e3)).toFixed(1).padStart(5)})`;
  const totals = { before: { input: 0, filter: 0 }, after: { forward: 0, input: 0, filter: 0 } };

  console.log(`\n${'shape'.padEnd(26)} ${'GFLOP'.padStart(6)} | ${'forward'.padStart(17)} | ${'dx stock'.padStart(17)} | ${'dx ours'.padStart(17)} | ${'dW stock'.padStart(17)} | ${'dW ours'.padStart(17)}`);
  for (const shape of SHAPES) {
    unregisterWasmTrainingKernels();
    const before = measure(shape);
    registerWasmTrainingKernels();
    const after = measure(shape);
    const work = gflops(shape);
    totals.before.input += before.input;
    totals.after.forward += after.forward;
    totals.after.input += after.input;
    totals.after.filter += after.filter ?? 0;
    console.log(
      `${shape.name.padEnd(26)} ${work.toFixed(3).padStart(6)} | ${cell(after.forward, work)} | ${cell(before.input, work)} | ${cell(after.input, work)} | ${cell(before.filter, work)} | ${cell(after.filter, work)}`,
    );
  }
  console.log(
    `\nsum over the ${SHAPES.length} shapes: forward ${totals.after.forward.toFixed(1)} ms, dx stock ${totals.before.input.toFixed(1)} ms -> ours ${totals.after.input.toFixed(1)} ms, dW ours ${totals.after.filter.toFixed(1)} ms`,
  );
}

void main();
