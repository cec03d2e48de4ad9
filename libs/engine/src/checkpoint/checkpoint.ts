import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { Settings } from '@facegan/spec';
import type { Trainer } from '../trainer';
import { fileModelHandler, fsyncFolder, writeFileAtomic } from './files';

/**
 * A checkpoint is one folder, `epoch-0005/`, holding everything a run needs to continue after that
 * epoch, and what sampling needs:
 *
 *   generator.json + generator.weights.bin           the generator (topology and weights, BN statistics included)
 *   discriminator.json + discriminator.weights.bin   the discriminator
 *   generator-optimizer.json + .weights.bin          Adam's iteration count and first/second moments
 *   discriminator-optimizer.json + .weights.bin
 *   state.json                                       epoch, global step, seeds, the settings it belongs to
 *
 * It is written into a temporary folder beside it (every file fsynced), which is then renamed into
 * place: a crash leaves either no checkpoint or a whole one. The random state is the global step
 * (it keys the latents and the device dropout masks) and train.seed (it keys each epoch's shuffle).
 */
export const CHECKPOINT_FORMAT = 1;

export interface CheckpointState {
  format: typeof CHECKPOINT_FORMAT;
  /** Epochs completed when it was saved; a resumed run starts at epoch + 1. */
  epoch: number;
  /** Training steps completed (across all epochs). */
  globalStep: number;
  /** train.seed: with the epoch it keys the shuffles, with the global step the latents and masks. */
  seed: number;
  /** Whether the trainer drew its dropout masks and latents with the device Philox streams. */
  deviceRandom: boolean;
  /** What the networks are: a checkpoint only restores into a trainer with the same settings. */
  model: Settings['model'];
  train: Settings['train'];
  /** The tfjs backend that trained it (any backend can restore it). */
  backend: string;
  savedAt: string;
}

/** The parts only resuming needs; `pruneResumeState` deletes them from older checkpoints. */
const RESUME_ONLY = ['discriminator', 'generator-optimizer', 'discriminator-optimizer'] as const;
const PARTS = ['generator', ...RESUME_ONLY] as const;

export function checkpointFolderName(epoch: number): string {
  return `epoch-${String(epoch).padStart(4, '0')}`;
}

/**
 * Saves the trainer after `epoch` into `<parent>/epoch-NNNN/` and returns that folder. An existing
 * checkpoint of the same epoch is replaced.
 */
export async function writeCheckpoint(parent: string, trainer: Trainer, settings: Settings, epoch: number): Promise<string> {
  mkdirSync(parent, { recursive: true });
  const name = checkpointFolderName(epoch);
  const final = join(parent, name);
  const partial = join(parent, `.${name}.partial-${process.pid}`);
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial);
  try {
    await trainer.generator.save(fileModelHandler(partial, 'generator'));
    await trainer.discriminator.save(fileModelHandler(partial, 'discriminator'));
    await saveOptimizer(trainer.generatorOptimizer, fileModelHandler(partial, 'generator-optimizer'));
    await saveOptimizer(trainer.discriminatorOptimizer, fileModelHandler(partial, 'discriminator-optimizer'));
    const state: CheckpointState = {
      format: CHECKPOINT_FORMAT,
      epoch,
      globalStep: trainer.globalStep,
      seed: settings.train.seed,
      deviceRandom: trainer.deviceRandom,
      model: settings.model,
      train: settings.train,
      backend: tf.getBackend(),
      savedAt: new Date().toISOString(),
    };
    // state.json last: a folder with it has every other part
    writeFileAtomic(join(partial, 'state.json'), Buffer.from(`${JSON.stringify(state, null, 2)}\n`));
    fsyncFolder(partial);

    const replaced = join(parent, `.${name}.replaced-${process.pid}`);
    if (existsSync(final)) renameSync(final, replaced);
    renameSync(partial, final);
    fsyncFolder(parent);
    rmSync(replaced, { recursive: true, force: true });
    return final;
  } catch (error) {
    rmSync(partial, { recursive: true, force: true });
    throw error;
  }
}

export function readCheckpointState(folder: string): CheckpointState {
  const state = JSON.parse(readFileSync(join(folder, 'state.json'), 'utf8')) as CheckpointState;
  if (state.format !== CHECKPOINT_FORMAT) {
    throw new Error(`${folder}: checkpoint format ${String(state.format)}, this facegan reads format ${CHECKPOINT_FORMAT}`);
  }
  return state;
}

/** True where the folder holds a checkpoint a run can resume from (not one pruned to its generator). */
export function isResumableCheckpoint(folder: string): boolean {
  return (
    existsSync(join(folder, 'state.json')) &&
    PARTS.every((part) => existsSync(join(folder, `${part}.json`)) && existsSync(join(folder, `${part}.weights.bin`)))
  );
}

/**
 * Deletes what only resuming needs (the discriminator and both optimizers' state) from a checkpoint
 * that a newer one has superseded, keeping its generator and state for sampling.
 */
export function pruneResumeState(folder: string): void {
  for (const part of RESUME_ONLY) {
    rmSync(join(folder, `${part}.json`), { force: true });
    rmSync(join(folder, `${part}.weights.bin`), { force: true });
  }
}

/**
 * Puts a checkpoint's weights and optimizer state into a freshly created trainer (created with the
 * checkpoint's global step: see resumeTrainer in train.ts). The trainer must have the checkpoint's
 * model and train settings. Returns the checkpoint's state.
 */
export async function restoreCheckpoint(folder: string, trainer: Trainer, settings: Settings): Promise<CheckpointState> {
  const state = readCheckpointState(folder);
  if (!checkpointFitsSettings(state, settings)) {
    throw new Error(`${folder}: the checkpoint was saved with other model or train settings than this variant's`);
  }
  if (!isResumableCheckpoint(folder)) throw new Error(`${folder}: not a whole checkpoint (pruned or damaged)`);
  if (trainer.globalStep !== state.globalStep) {
    throw new Error(`the trainer is at step ${trainer.globalStep}, the checkpoint at step ${state.globalStep}`);
  }
  await loadWeightsInto(trainer.generator, fileModelHandler(folder, 'generator'));
  await loadWeightsInto(trainer.discriminator, fileModelHandler(folder, 'discriminator'));
  await loadOptimizer(trainer.generatorOptimizer, fileModelHandler(folder, 'generator-optimizer'));
  await loadOptimizer(trainer.discriminatorOptimizer, fileModelHandler(folder, 'discriminator-optimizer'));
  return state;
}

/** Whether a checkpoint holds networks of these model and train settings (whatever the key order). */
export function checkpointFitsSettings(state: CheckpointState, settings: Settings): boolean {
  const same = (a: unknown, b: unknown) => JSON.stringify(sortedKeys(a)) === JSON.stringify(sortedKeys(b));
  return same(state.model, settings.model) && same(state.train, settings.train);
}

/** The generator of a checkpoint, as saved (for sampling). The caller disposes it. */
export async function loadCheckpointGenerator(folder: string): Promise<tf.LayersModel> {
  return tf.loadLayersModel(fileModelHandler(folder, 'generator'));
}

/**
 * Weights in the order the model saved them (its `weights` order): layer names carry per-process
 * counters, so names from another process do not match; the order and shapes do.
 */
async function loadWeightsInto(model: tf.LayersModel, handler: tf.io.IOHandler): Promise<void> {
  const artifacts = await (handler.load as () => Promise<tf.io.ModelArtifacts>)();
  const specs = artifacts.weightSpecs ?? [];
  const decoded = tf.io.decodeWeights(artifacts.weightData ?? new ArrayBuffer(0), specs);
  const tensors = specs.map((spec) => decoded[spec.name]);
  try {
    if (tensors.length !== model.weights.length) {
      throw new Error(`${model.name}: the checkpoint has ${tensors.length} weights, the model ${model.weights.length}`);
    }
    model.weights.forEach((weight, i) => {
      if (!tf.util.arraysEqual(weight.shape as number[], tensors[i].shape)) {
        throw new Error(`${model.name}: weight ${i} is ${JSON.stringify(weight.shape)} in the model, ${JSON.stringify(tensors[i].shape)} in the checkpoint`);
      }
    });
    model.setWeights(tensors);
  } finally {
    tf.dispose(Object.values(decoded));
  }
}

/** Adam's state as model artifacts: [iteration count, first moments…, second moments…] in the optimizer's order. */
async function saveOptimizer(optimizer: tf.AdamOptimizer, handler: tf.io.IOHandler): Promise<void> {
  const weights = await optimizer.getWeights();
  const [iterations] = weights;
  try {
    // getWeights' names are the variables' names of this process: positions are what carries over
    const named = weights.map((weight, i) => ({ name: i === 0 ? 'iterations' : `moment_${i - 1}`, tensor: weight.tensor }));
    const { data, specs } = await tf.io.encodeWeights(named);
    await (handler.save as (artifacts: tf.io.ModelArtifacts) => Promise<tf.io.SaveResult>)({
      modelTopology: { className: optimizer.getClassName(), config: optimizer.getConfig() },
      format: 'facegan-optimizer',
      weightSpecs: specs,
      weightData: data,
    });
  } finally {
    // the moments are the optimizer's own variables; only the iteration scalar is a fresh tensor
    iterations.tensor.dispose();
  }
}

async function loadOptimizer(optimizer: tf.AdamOptimizer, handler: tf.io.IOHandler): Promise<void> {
  const artifacts = await (handler.load as () => Promise<tf.io.ModelArtifacts>)();
  const specs = artifacts.weightSpecs ?? [];
  const decoded = tf.io.decodeWeights(artifacts.weightData ?? new ArrayBuffer(0), specs);
  try {
    if (specs.length % 2 !== 1 || specs[0]?.name !== 'iterations') {
      throw new Error(`optimizer state with ${specs.length} entries: expected the iteration count and pairs of moments`);
    }
    // setWeights makes variables from these tensors (sharing their data): disposing ours after is safe
    await optimizer.setWeights(specs.map((spec) => ({ name: spec.name, tensor: decoded[spec.name] })));
  } finally {
    tf.dispose(Object.values(decoded));
  }
}

function sortedKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortedKeys);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, item]) => item !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([key, item]) => [key, sortedKeys(item)]),
    );
  }
  return value;
}
