/**
 * For the lent GPU machine (bundled by webgpu/pack-device.sh, run by webgpu/device-bench.sh): the engine's
 * own trainer on webgpu, what `runner:bench --backend webgpu` times (createTrainer: GPU dropout masks and
 * latents, fused Adam, the sub-pixel generator, one step queued ahead, the GEMMs tuned in the first warm-up
 * step unless FACEGAN_GEMM_AUTOTUNE=0), one JSON line per size with the keys of torch_dcgan.py, and the tuning
 * table on stderr.
 *
 *   node trainer-bench.mjs --sizes 64,96 --batch 128 --width 1 --steps 30 --warmup 10 [--run 2]
 *
 * --run N names the line facegan-trainer-webgpu#N (several processes in one device call: their spread).
 * replayedSteps: how many timed steps were replayed without tfjs (FACEGAN_STEP_REPLAY=0 turns replay off).
 * --gpu-breakdown R: then the replayed step's dispatches timed alone, R times back to back: all of them, and each
 * program's alone and left out (gpuBreakdown in the line; the trainer is of no use after, so it comes last).
 */
import { parseArgs } from 'node:util';
import { formatGemmTuning } from '../webgpu/index';
import { benchTrainStep, prepareBenchBackend } from './train-step-bench';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '64,96' },
    batch: { type: 'string', default: '128' },
    width: { type: 'string', default: '1' },
    steps: { type: 'string', default: '6' },
    warmup: { type: 'string', default: '2' },
    run: { type: 'string' },
    'gpu-breakdown': { type: 'string' },
  },
});
const backend = await prepareBenchBackend({ backend: 'webgpu' });
for (const size of values.sizes.split(',').map(Number)) {
  const batch = Number(values.batch);
  const width = Number(values.width);
  const gpuBreakdownRepeats = values['gpu-breakdown'] === undefined ? undefined : Number(values['gpu-breakdown']);
  const result = await benchTrainStep({ resolution: size, width, batch, steps: Number(values.steps), warmup: Number(values.warmup), profile: false, gpuBreakdownRepeats });
  const line = {
    impl: `facegan-trainer-webgpu${values.run === undefined ? '' : `#${values.run}`}`,
    device: backend.device,
    size,
    batch,
    width,
    steps: result.stepMs.length,
    msPerStep: Math.round(result.msPerStep * 100) / 100,
    imgPerSec: Math.round(result.imagesPerSecond * 10) / 10,
    // throughput over all the timed steps, as torch_dcgan.py's figures: the ratio that counts
    msPerStepMean: Math.round(result.meanMsPerStep * 100) / 100,
    imgPerSecMean: Math.round((batch / result.meanMsPerStep) * 1e4) / 10,
    pipelined: result.pipelined,
    msQueuePerStep: result.queueMsPerStep === undefined ? undefined : Math.round(result.queueMsPerStep * 100) / 100,
    settleSteps: result.settleSteps,
    replayedSteps: result.replayedSteps,
    stepMs: result.stepMs.map((ms) => Math.round(ms * 100) / 100),
    gflopsEffective: Math.round(result.gflopsPerSecond),
    gflopsExecuted: Math.round(result.executedGflopsPerSecond),
    autotuned: result.tuning !== undefined,
    tuningStepMs: result.tuningStepMs === undefined ? undefined : Math.round(result.tuningStepMs),
    gpuBreakdown: result.gpuBreakdown && {
      repeats: result.gpuBreakdown.repeats,
      msPerStep: Math.round(result.gpuBreakdown.msPerStep * 1000) / 1000,
      groups: result.gpuBreakdown.groups.map((g) => ({
        ...g,
        aloneMs: Math.round(g.aloneMs * 1000) / 1000,
        withoutMs: Number.isNaN(g.withoutMs) ? undefined : Math.round(g.withoutMs * 1000) / 1000,
      })),
      sumOfDispatchesMs: Math.round(result.gpuBreakdown.sumOfDispatchesMs * 1000) / 1000,
      longestDispatches: result.gpuBreakdown.longestDispatches.map((d) => ({ ...d, ms: Math.round(d.ms * 1000) / 1000 })),
      eachDispatch: result.gpuBreakdown.eachDispatch,
    },
  };
  if (result.tuning) process.stderr.write(`GEMM tuning at ${size} px (first warm-up step ${Math.round(result.tuningStepMs ?? 0)} ms):\n${formatGemmTuning(result.tuning)}\n`);
  console.log(JSON.stringify(line));
}
process.exit(0);
