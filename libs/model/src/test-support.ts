import * as tf from '@tensorflow/tfjs';

/** `model` saved to memory and loaded back with tf.loadLayersModel (as runner:sample loads a checkpoint). The caller disposes it. */
export async function saveAndLoad(model: tf.LayersModel): Promise<tf.LayersModel> {
  let saved: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      saved = artifacts;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return tf.loadLayersModel(tf.io.fromMemory(saved as tf.io.ModelArtifacts));
}
