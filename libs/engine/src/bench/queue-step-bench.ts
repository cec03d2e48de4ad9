/**
 * The CPU's share of a WebGPU training step, alone: JS, tfjs and Dawn queueing one step of the engine's trainer,
 * with the GPU taken out (after warm-up, queue.submit does nothing, so no work runs and none competes for the
 * CPU). On a machine where the "GPU" is the CPU (lavapipe), runner:bench's "queueing a step" mixes the two; this
 * does not. A step can take no less than this on any GPU, on the machine that measured it.
 *
 *   npx tsx --tsconfig tsconfig.base.json libs/engine/src/bench/queue-step-bench.ts [--resolution 32] [--width 0.25] [--batch 8] [--steps 24]
 *
 * Warms up until the dispatch caches have settled (warmDispatchCaches). Prints one JSON line: the median and
 * range of the queueing times, dispatches and submits per step, and the
 * dispatch caches' counts (FACEGAN_WEBGPU_DISPATCH_CACHE=0 to compare without them). The process exits after:
 * its backend has unsubmitted work.
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { createTrainer } from '../trainer';
import { countDispatches } from '../webgpu/dispatch-counter';
import { dispatchCachesInstalled, dispatchCacheStats, initWebGpu, warmDispatchCaches } from '../webgpu/index';
import { benchSettings } from './train-step-bench';

const { values } = parseArgs({
  options: {
    resolution: { type: 'string', default: '32' },
    width: { type: 'string', default: '0.25' },
    batch: { type: 'string', default: '8' },
    steps: { type: 'string', default: '24' },
    warmup: { type: 'string', default: '2' },
  },
});
const resolution = Number(values.resolution);
const width = Number(values.width);
const batch = Number(values.batch);
const steps = Number(values.steps);

const info = await initWebGpu();
const trainer = createTrainer(benchSettings({ resolution, width, batch }));
const images = tf.randomUniform([batch, resolution, resolution, 3], -1, 1, 'float32', 1) as tf.Tensor4D;
for (let i = 0; i < Number(values.warmup); i++) await trainer.stepAsync(images); // compiles the shaders
const backend = tf.backend() as WebGPUBackend;
// and on until the dispatch caches have settled (none where they are off): the timed steps are steady ones
const settleSteps = await warmDispatchCaches(backend, () => trainer.stepAsync(images));

const queue = backend.device.queue;
let submits = 0;
queue.submit = () => {
  submits++;
};
const dispatches = countDispatches(backend);
const before = dispatchCacheStats(backend);
const times: number[] = [];
for (let i = 0; i < steps; i++) {
  const start = performance.now();
  // its metrics never come back: nothing is submitted
  void trainer.stepAsync(images).catch(() => undefined);
  times.push(performance.now() - start);
}
const after = dispatchCacheStats(backend);
times.sort((a, b) => a - b);
const round = (ms: number) => Math.round(ms * 100) / 100;
console.log(
  JSON.stringify({
    device: info.device,
    resolution,
    width,
    batch,
    steps,
    settleSteps,
    queueMsMedian: round(times[times.length >> 1]),
    queueMsMin: round(times[0]),
    queueMsMax: round(times[times.length - 1]),
    dispatchesPerStep: dispatches() / steps,
    submitsPerStep: submits / steps,
    stepReplay: trainer.stepReplay ?? 'off',
    dispatchCache: dispatchCachesInstalled(backend)
      ? {
          bindGroupsReused: after.bindGroupHits - before.bindGroupHits,
          bindGroupsMade: after.bindGroupMisses - before.bindGroupMisses + after.bindGroupUncached - before.bindGroupUncached,
        }
      : 'off',
  }),
);
process.exit(0);
