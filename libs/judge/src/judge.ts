import type { DatasetSource } from '@facegan/spec';
import { CARTOON_ATTRIBUTES, classifyCartoons, type CartoonAttribute, type CartoonClassifier } from './cartoon-classifier';
import { faceShares, scoreFaceJudge, type FaceJudge } from './faces';
import { checkImageSet, pickImages, type ImageSet } from './images';
import { meanPairwiseMsSsim } from './msssim';
import { mixSeed, sampleIndices } from '@facegan/random';
import { slicedWassersteinDistance, type SwdOptions } from './swd';
import type { Share } from './wilson';

export interface JudgeInput {
  /** The generator's samples (NHWC in [-1, 1]), e.g. 512 from a fixed set of latents: the same ones at every epoch. */
  generated: ImageSet;
  /**
   * The run's training images (its Dataset, ideally, whose items carry labels): the real side of SWD and MS-SSIM,
   * and what the judge is calibrated on. Pass the same object at every epoch: its results are computed once.
   */
  real: ImageSet & { items?: ReadonlyArray<{ labels: Readonly<Record<string, unknown>> }> };
  /** The dataset's source: cartoon faces are judged by the cartoon classifier, photos by the face judge. */
  source: DatasetSource;
  /** Needed for cartoon: loadOrTrainCartoonClassifier at the samples' resolution. */
  cartoonClassifier?: CartoonClassifier;
  /** For photo sources (utkface, celeba, folder): createFaceJudge(); without it, no face or gender metrics. */
  faceJudge?: FaceJudge;
  seed?: number;
  /** Random pairs per set for MS-SSIM (256). */
  msssimPairs?: number;
  swd?: SwdOptions;
}

/** Metric names of a cartoon attribute: `share_male`, `share_glasses`, `share_facial_hair`. */
const ATTRIBUTE_METRIC: Record<CartoonAttribute, string> = { male: 'male', glasses: 'glasses', facialHair: 'facial_hair' };

/** Results that depend on the real images only, per real set: a sweep judges many epochs against one training set. */
const realResults = new WeakMap<object, Map<string, Promise<Record<string, number>>>>();

/**
 * Everything the judge measures about a generator's samples, as named metrics for the store:
 *
 * - `swd_<side>` per Laplacian level (e.g. `swd_64`, `swd_32`, `swd_16`) and `swd_mean` (×1e3, lower is better),
 *   between the samples and as many training images (`judged_images`);
 * - `msssim_fake`, `msssim_real`: mean MS-SSIM of random pairs (near 1 = the samples look alike: mode collapse),
 *   with `msssim_scales` (the image size limits the scales: 2 at 32 px, 3 at 64, 4 at 96);
 * - cartoon: `face_rate` (+ `_low`, `_high`): the share of samples the classifier takes for cartoon faces, and
 *   `face_rate_real` on training images; among those faces (`faces`), `share_male`, `share_glasses`,
 *   `share_facial_hair`, each with `_low` and `_high` (95% Wilson); the classifier's held-out accuracy
 *   `judge_acc_<output>` (face included); `share_<attribute>_real`: the same classifier on the training images;
 * - photos (with a face judge): `face_rate` (+ `_low`, `_high`) and `face_rate_real`, its ceiling on training images
 *   of the same size; `share_male` (+ `_low`, `_high`) among the detected faces (`faces`), and `share_male_real`;
 *   `judge_gender_acc` (+ `_low`, `_high`) on the training images with a gender label, when they have one.
 *
 * Shares of no images (no face found) are NaN with the interval [0, 1].
 */
export async function judgeGenerated(input: JudgeInput): Promise<Record<string, number>> {
  const { generated, real, source } = input;
  checkImageSet(generated, 'generated');
  checkImageSet(real, 'real');
  const seed = input.seed ?? 1;
  const count = Math.min(generated.count, real.count);
  if (count < 2) throw new RangeError(`the judge needs at least 2 generated and 2 real images, got ${generated.count} and ${real.count}`);
  const realIndices = sampleIndices(real.count, count, mixSeed(seed, real.count));
  const realSubset = { ...pickImages(real, realIndices), items: real.items && Array.from(realIndices, (index) => real.items![index]) };
  const fake = count === generated.count ? generated : pickImages(generated, Array.from({ length: count }, (_, i) => i));

  const metrics: Record<string, number> = { judged_images: count };
  const swd = await slicedWassersteinDistance(realSubset, fake, { seed, ...input.swd });
  for (const level of swd.levels) metrics[`swd_${level.resolution}`] = level.distance;
  metrics.swd_mean = swd.mean;

  const pairs = input.msssimPairs ?? 256;
  const fakeDiversity = meanPairwiseMsSsim(fake, { pairs, seed });
  metrics.msssim_fake = fakeDiversity.mean;
  metrics.msssim_scales = fakeDiversity.scales;
  Object.assign(metrics, await onReal(real, `msssim ${pairs} ${seed} ${count}`, async () => ({ msssim_real: meanPairwiseMsSsim(realSubset, { pairs, seed }).mean })));

  if (source === 'cartoon') {
    const classifier = input.cartoonClassifier;
    if (!classifier) throw new Error('judging cartoon samples needs the cartoon classifier (loadOrTrainCartoonClassifier)');
    const shares = await classifyCartoons(classifier, fake);
    putShare(metrics, 'face_rate', shares.faceRate);
    metrics.faces = shares.faceRate.count;
    metrics.judge_acc_face = classifier.info.accuracy.face;
    for (const attribute of CARTOON_ATTRIBUTES) {
      const name = ATTRIBUTE_METRIC[attribute];
      putShare(metrics, `share_${name}`, shares.attributes[attribute]);
      metrics[`judge_acc_${name}`] = classifier.info.accuracy[attribute];
    }
    const key = `cartoon ${classifier.info.trainedAt} ${seed} ${count}`;
    Object.assign(
      metrics,
      await onReal(real, key, async () => {
        const realShares = await classifyCartoons(classifier, realSubset);
        return {
          face_rate_real: realShares.faceRate.share,
          ...Object.fromEntries(CARTOON_ATTRIBUTES.map((a) => [`share_${ATTRIBUTE_METRIC[a]}_real`, realShares.attributes[a].share])),
        };
      }),
    );
  } else if (input.faceJudge) {
    const judge = input.faceJudge;
    const shares = faceShares(await judge.judge(fake));
    putShare(metrics, 'face_rate', shares.faceRate);
    metrics.faces = shares.male.faces;
    putShare(metrics, 'share_male', shares.male);
    Object.assign(
      metrics,
      await onReal(real, `faces ${seed} ${count}`, async () => {
        const verdicts = await judge.judge(realSubset);
        const realShares = faceShares(verdicts);
        const result: Record<string, number> = { face_rate_real: realShares.faceRate.share, share_male_real: realShares.male.share };
        const calibration = scoreFaceJudge(verdicts, realSubset);
        if (calibration.photos > 0) putShare(result, 'judge_gender_acc', calibration.genderAccuracy);
        return result;
      }),
    );
  }
  return metrics;
}

function putShare(metrics: Record<string, number>, name: string, share: Share): void {
  metrics[name] = share.share;
  metrics[`${name}_low`] = share.low;
  metrics[`${name}_high`] = share.high;
}

function onReal(real: object, key: string, compute: () => Promise<Record<string, number>>): Promise<Record<string, number>> {
  let results = realResults.get(real);
  if (!results) {
    results = new Map();
    realResults.set(real, results);
  }
  let result = results.get(key);
  if (!result) {
    result = compute();
    // a failure is not remembered: the next epoch tries again
    result.catch(() => results.delete(key));
    results.set(key, result);
  }
  return result;
}
