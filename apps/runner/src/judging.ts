import { join } from 'node:path';
import type { Dataset } from '@facegan/data';
import { randomLatents } from '@facegan/engine';
import { createFaceJudge, judgeGenerated, loadOrTrainCartoonClassifier, type CartoonClassifier, type FaceJudge } from '@facegan/judge';
import type { Settings } from '@facegan/spec';

/** Seed of the judge's latents: the same samples at every judged epoch, and across the variants of a sweep. */
const JUDGE_LATENT_SEED = 0x70d9e;

export interface JudgingOptions {
  /** The runs folder (next to the database): cartoon classifiers are kept in `<runsFolder>/judge/cartoon-<resolution>`. */
  runsFolder: string;
  /** The dataset cache (the classifier renders its cartoon faces there). */
  cacheDir: string;
}

/** Judges one variant's epochs; made per variant by Judging.forVariant. */
export interface EpochJudge {
  /** Whether this epoch is judged: every judge.every epochs, and the last. */
  judges(epoch: number): boolean;
  /** The judge's metrics of this epoch's generator, from its samples (EpochReport.sample). */
  judge(sample: (latents: Float32Array) => Promise<Float32Array>): Promise<Record<string, number>>;
}

export interface Judging {
  /** null when the variant's judge is off. `dataset` is its training set: pass the same object at every epoch. */
  forVariant(settings: Settings, dataset: Dataset): EpochJudge | null;
}

/** Face-api's models load once per process. */
let faceJudge: Promise<FaceJudge> | undefined;

function sharedFaceJudge(): Promise<FaceJudge> {
  faceJudge ??= createFaceJudge();
  faceJudge.catch(() => (faceJudge = undefined));
  return faceJudge;
}

/** The judges of a sweep: cartoon classifiers (trained once per resolution, then loaded) and the face judge. */
export function createJudging(options: JudgingOptions): Judging {
  const classifiers = new Map<number, Promise<CartoonClassifier>>();
  const cartoonClassifier = (resolution: number) => {
    let classifier = classifiers.get(resolution);
    if (!classifier) {
      classifier = loadOrTrainCartoonClassifier(join(options.runsFolder, 'judge', `cartoon-${resolution}`), { resolution, cacheDir: options.cacheDir });
      classifier.catch(() => classifiers.delete(resolution));
      classifiers.set(resolution, classifier);
    }
    return classifier;
  };

  return {
    forVariant(settings, dataset) {
      const { judge, model, train, dataset: data } = settings;
      if (!judge.enabled) return null;
      let latents: Float32Array | undefined;
      return {
        judges: (epoch) => epoch % judge.every === 0 || epoch === train.epochs,
        async judge(sample) {
          latents ??= randomLatents(judge.samples, model.latentDim, JUDGE_LATENT_SEED);
          const images = await sample(latents);
          const generated = { images, count: judge.samples, resolution: model.resolution, channels: 3 as const };
          if (data.source === 'cartoon') {
            return judgeGenerated({ generated, real: dataset, source: data.source, cartoonClassifier: await cartoonClassifier(model.resolution) });
          }
          return judgeGenerated({ generated, real: dataset, source: data.source, faceJudge: await sharedFaceJudge() });
        },
      };
    },
  };
}

const percent = (share: number) => `${Math.round(100 * share)}%`;

/** `judge epoch 10: faces 92% men 97% [95–98] swd 41.2`: what a judged epoch found, in one line. */
export function formatJudgeLine(epoch: number, metrics: Record<string, number>): string {
  const parts = [`judge epoch ${epoch}:`];
  if (metrics.face_rate !== undefined) parts.push(`faces ${percent(metrics.face_rate)}`);
  if (metrics.share_male !== undefined) {
    parts.push(
      Number.isNaN(metrics.share_male)
        ? 'men –'
        : `men ${percent(metrics.share_male)} [${Math.round(100 * metrics.share_male_low)}–${Math.round(100 * metrics.share_male_high)}]`,
    );
  }
  if (metrics.share_glasses !== undefined && !Number.isNaN(metrics.share_glasses)) parts.push(`glasses ${percent(metrics.share_glasses)}`);
  parts.push(`swd ${metrics.swd_mean.toFixed(1)}`);
  return parts.join(' ');
}

/**
 * The judge's metrics for this epoch's summary rows ({} when the epoch is not judged), and the line that says what it
 * found (null when not judged). A judge that fails says so in its line, and the epoch is recorded without its
 * metrics: training goes on.
 */
export async function judgeEpoch(
  judge: EpochJudge | null,
  epoch: number,
  sample: (latents: Float32Array) => Promise<Float32Array>,
): Promise<{ metrics: Record<string, number>; line: string | null }> {
  if (!judge?.judges(epoch)) return { metrics: {}, line: null };
  try {
    const metrics = await judge.judge(sample);
    return { metrics, line: formatJudgeLine(epoch, metrics) };
  } catch (error) {
    return { metrics: {}, line: `judge epoch ${epoch} failed: ${error instanceof Error ? error.message : String(error)}` };
  }
}
