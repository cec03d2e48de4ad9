import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';

/**
 * A tfjs IOHandler over plain files, for `model.save(handler)` and `tf.loadLayersModel(handler)`
 * (tfjs's own `file://` handler exists only in tfjs-node). It writes the usual pair of a Layers
 * model: `<name>.json` (topology and weights manifest, as tfjs's model.json) and `<name>.weights.bin`
 * (every weight, one shard), each atomically: written to a temporary name, fsynced, renamed.
 */
export function fileModelHandler(folder: string, name: string): tf.io.IOHandler {
  const jsonPath = join(folder, `${name}.json`);
  const weightsFile = `${name}.weights.bin`;

  return {
    async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      if (artifacts.modelTopology instanceof ArrayBuffer) {
        throw new Error('fileModelHandler saves JSON topologies only (a Layers model or a plain object)');
      }
      const weights = artifacts.weightData === undefined ? new ArrayBuffer(0) : tf.io.CompositeArrayBuffer.join(artifacts.weightData);
      const modelJson: tf.io.ModelJSON = {
        modelTopology: artifacts.modelTopology ?? {},
        format: artifacts.format,
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy,
        weightsManifest: [{ paths: [weightsFile], weights: artifacts.weightSpecs ?? [] }],
        ...(artifacts.trainingConfig ? { trainingConfig: artifacts.trainingConfig } : {}),
        ...(artifacts.userDefinedMetadata ? { userDefinedMetadata: artifacts.userDefinedMetadata } : {}),
      };
      // the weights first: a json file never names weights that are not there
      writeFileAtomic(join(folder, weightsFile), new Uint8Array(weights));
      writeFileAtomic(jsonPath, Buffer.from(JSON.stringify(modelJson)));
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    },

    async load(): Promise<tf.io.ModelArtifacts> {
      const modelJson = JSON.parse(readFileSync(jsonPath, 'utf8')) as tf.io.ModelJSON;
      const manifest = modelJson.weightsManifest ?? [];
      const weightSpecs = manifest.flatMap((group) => group.weights);
      const shards = manifest.flatMap((group) => group.paths).map((path) => {
        const bytes = readFileSync(join(folder, basename(path)));
        return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
      });
      const weightData = tf.io.CompositeArrayBuffer.join(shards);
      const expectedBytes = weightSpecs.reduce((sum, spec) => sum + weightByteLength(spec), 0);
      if (weightData.byteLength !== expectedBytes) {
        throw new Error(`${jsonPath}: weights file holds ${weightData.byteLength} bytes, its manifest names ${expectedBytes}`);
      }
      return tf.io.getModelArtifactsForJSON(modelJson, async () => [weightSpecs, weightData]);
    },
  };
}

const BYTES_PER_ELEMENT: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2 };

function weightByteLength(spec: tf.io.WeightsManifestEntry): number {
  if (spec.quantization) throw new Error(`quantized weights are not supported (${spec.name})`);
  const bytes = BYTES_PER_ELEMENT[spec.dtype];
  if (bytes === undefined) throw new Error(`unsupported weight dtype ${spec.dtype} (${spec.name})`);
  return spec.shape.reduce((product, size) => product * size, 1) * bytes;
}

/** Writes `data` to `path` so that a crash leaves either the old file or the whole new one. */
export function writeFileAtomic(path: string, data: Uint8Array): void {
  const temporary = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const fd = openSync(temporary, 'w');
  try {
    let written = 0;
    while (written < data.byteLength) written += writeSync(fd, data, written, data.byteLength - written);
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    rmSync(temporary, { force: true });
    throw error;
  }
  closeSync(fd);
  renameSync(temporary, path);
  fsyncFolder(dirname(path));
}

/** Makes a folder's entries (new files, renames) durable. */
export function fsyncFolder(folder: string): void {
  const fd = openSync(folder, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
