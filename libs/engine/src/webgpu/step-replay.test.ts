import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTrainer, type StepMetrics, type Trainer } from '../trainer';
import { randomDataset, tinySettings } from '../test-fixtures';
import { orderMoves, separateRewrites } from './step-replay';
import { initWebGpu } from './index';
import { webGpuForTests } from './test-support';

const gpu = await webGpuForTests();
const settings = tinySettings({}, 0.125);
const { resolution } = settings.model;
const BATCH = 4;

beforeAll(async () => {
  if (!gpu.available) return;
  await initWebGpu();
});

afterAll(async () => {
  await tf.setBackend('cpu');
});

function batch(seed: number, size = BATCH): tf.Tensor4D {
  return tf.tensor4d(randomDataset(size, resolution, seed).images, [size, resolution, resolution, 3]);
}

/** Every weight of both networks (batch-norm statistics too) and both optimizers' state, read back. */
async function state(trainer: Trainer) {
  const weights = await Promise.all(
    [...trainer.generator.weights, ...trainer.discriminator.weights].map(async (weight) => Array.from(await weight.read().data())),
  );
  const optimizers = [...(await trainer.generatorOptimizer.getWeights()), ...(await trainer.discriminatorOptimizer.getWeights())];
  const optimizerState = await Promise.all(optimizers.map(async (w) => Array.from(await w.tensor.data())));
  return { weights, optimizerState };
}

/**
 * Trains `steps` steps on batches seeded 1, 2, …; returns each step's metrics, the state after step `readAt`
 * (reading it leaves tfjs a CPU copy of every variable, which replays must not leave stale) and after the last.
 */
async function train(trainer: Trainer, steps: number, sizeOf: (step: number) => number = () => BATCH, readAt = 8) {
  const metrics: StepMetrics[] = [];
  let midway: Awaited<ReturnType<typeof state>> | undefined;
  for (let step = 0; step < steps; step++) {
    const images = batch(step + 1, sizeOf(step));
    metrics.push(await trainer.stepAsync(images));
    images.dispose();
    if (step + 1 === readAt) midway = await state(trainer);
  }
  return { metrics, midway, ...(await state(trainer)) };
}

describe.skipIf(!gpu.available)('step replay (webgpu)', () => {
  it('replays settled steps and ends where tfjs would, bit for bit: metrics, weights, batch-norm statistics, Adam state', async () => {
    const steps = 12;
    const plain = createTrainer(settings, { stepReplay: false });
    const expected = await train(plain, steps);
    expect(plain.stepReplay).toBeUndefined();
    plain.dispose();

    const replayed = createTrainer(settings);
    const actual = await train(replayed, steps);
    const stats = replayed.stepReplay!;
    replayed.dispose();
    expect(stats.graphs).toBe(1);
    expect(stats.replayed).toBeGreaterThanOrEqual(steps - 6);
    expect(stats.replayed + stats.recorded).toBe(steps);
    expect(stats.dispatchesPerStep).toBeGreaterThan(100);
    // every write goes first (separateRewrites): one compute pass a step
    expect(stats.passesPerStep).toBe(1);
    expect(actual.metrics).toEqual(expected.metrics);
    expect(actual.midway).toEqual(expected.midway);
    expect(actual.weights).toEqual(expected.weights);
    expect(actual.optimizerState).toEqual(expected.optimizerState);
  }, 240_000);

  it('a short batch runs through tfjs and replay starts again after; setWeights ends a graph', async () => {
    const shortAt = 8;
    const sizeOf = (step: number) => (step === shortAt ? 2 : BATCH);
    const plain = createTrainer(settings, { stepReplay: false });
    const expected = await train(plain, 14, sizeOf);
    plain.dispose();

    const replayed = createTrainer(settings);
    const actual = await train(replayed, 14, sizeOf);
    const stats = replayed.stepReplay!;
    expect(stats.graphs).toBe(2);
    expect(stats.dropped).toBe(1);
    expect(actual.metrics).toEqual(expected.metrics);
    expect(actual.weights).toEqual(expected.weights);

    // new weights from outside: the graph must not keep training the old buffers
    const reset = replayed.discriminator.getWeights().map((w) => tf.zerosLike(w));
    replayed.discriminator.setWeights(reset);
    tf.dispose(reset);
    const images = batch(99);
    await replayed.stepAsync(images);
    images.dispose();
    expect(replayed.stepReplay!.dropped).toBe(2);
    expect(replayed.stepReplay!.replayed).toBe(stats.replayed);
    replayed.dispose();
  }, 240_000);
});

describe('orderMoves', () => {
  const buffer = (name: string) => ({ name, size: 16 }) as unknown as GPUBuffer;
  const [a, b, c, d] = ['a', 'b', 'c', 'd'].map(buffer);
  const run = (moves: Array<{ from: GPUBuffer; to: GPUBuffer }>) => {
    const temporaries: GPUBuffer[] = [];
    const ordered = orderMoves(moves.map((move) => ({ ...move })), (size) => {
      const spare = { name: `t${temporaries.length}`, size } as unknown as GPUBuffer;
      temporaries.push(spare);
      return spare;
    });
    // carry the copies out on named values
    const contents = new Map<GPUBuffer, string>([a, b, c, d].map((x) => [x, (x as unknown as { name: string }).name]));
    for (const move of ordered) contents.set(move.to, contents.get(move.from)!);
    return { contents, temporaries, ordered };
  };
  const name = (x: GPUBuffer) => (x as unknown as { name: string }).name;

  it('orders a chain so that nothing is overwritten before it is read', () => {
    // b → a, c → b: a must get b's old value
    const { contents, temporaries } = run([
      { from: c, to: b },
      { from: b, to: a },
    ]);
    expect(contents.get(a)).toBe('b');
    expect(contents.get(b)).toBe('c');
    expect(temporaries).toHaveLength(0);
  });

  it('breaks a cycle with one temporary buffer', () => {
    const { contents, temporaries } = run([
      { from: a, to: b },
      { from: b, to: c },
      { from: c, to: a },
      { from: d, to: d },
    ]);
    expect([a, b, c].map((x) => contents.get(x))).toEqual(['c', 'a', 'b']);
    expect(contents.get(d)).toBe('d');
    expect(temporaries.map(name)).toEqual(['t0']);
  });
});

describe('separateRewrites', () => {
  const buffer = (name: string) => ({ name, size: 4, usage: 140 }) as unknown as GPUBuffer;
  const name = (x: GPUBuffer) => (x as unknown as { name: string }).name;
  const pipeline = {} as GPUComputePipeline;
  const write = (target: GPUBuffer) => ({ kind: 'write' as const, buffer: target, offset: 0, bytes: new Uint8Array(4), source: 'test' });
  const dispatch = (...buffers: GPUBuffer[]) => ({ kind: 'dispatch' as const, label: 'test', pipeline, bindGroup: {} as GPUBindGroup, buffers, workgroups: [1, 1, 1] as [number, number, number] });
  const [s, out1, out2, result] = ['s', 'out1', 'out2', 'result'].map(buffer);

  it('gives a write to a buffer used before a buffer of its own, and binds its readers to it until the buffer is written again', () => {
    let made = 0;
    const ops = separateRewrites(
      [write(s), dispatch(out1, s), write(s), dispatch(out2, s, out1), dispatch(s, out2), dispatch(result, s)],
      new Set([result]),
      { buffer: () => buffer(`new${made++}`), bindGroup: () => ({ rebound: true }) as unknown as GPUBindGroup },
    );
    const names = ops.map((op) => (op.kind === 'write' ? `write ${name(op.buffer)}` : op.buffers.map(name).join(',')));
    // the first write keeps s; the second goes to new0, read by the next op; s written by a dispatch is s again
    expect(names).toEqual(['write s', 'out1,s', 'write new0', 'out2,new0,out1', 's,out2', 'result,s']);
    expect(ops.map((op) => op.kind === 'dispatch' && (op.bindGroup as unknown as { rebound?: boolean }).rebound === true)).toEqual([false, false, false, true, false, false]);
  });

  it('keeps the last write of a buffer read after the step', () => {
    const ops = separateRewrites([dispatch(out1, result), write(result)], new Set([result]), {
      buffer: () => buffer('new'),
      bindGroup: () => ({}) as GPUBindGroup,
    });
    expect(ops[1].kind === 'write' && name(ops[1].buffer)).toBe('result');
  });
});
