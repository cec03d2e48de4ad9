import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { checkImageSet, imageAt, type ImageSet, toRgbBytes } from './images';
import { wilson, type Share } from './wilson';

type FaceApi = typeof import('@vladmandic/face-api/dist/face-api.node-wasm.js');

export interface FaceJudgeOptions {
  /** Side of the detector's input (tiny face detector: a multiple of 32; 160 default). */
  detectorInputSize?: number;
  /** Detections below this confidence do not count as faces (0.5 default). */
  minConfidence?: number;
  /**
   * The image is centred on a grey canvas this many times its side (3 default): the detector is made for faces in
   * scenes, and misses most faces that fill the whole frame, as every training image and sample does.
   */
  canvasScale?: number;
}

export interface FaceVerdict {
  /** The detector found a face (confidence ≥ minConfidence). */
  face: boolean;
  /** The best detection's confidence, 0 when none. */
  confidence: number;
  /** Probability that the face is a man's, from face-api's age-gender net on the whole image; only where face. */
  male?: number;
}

export interface FaceJudge {
  judge(images: ImageSet): Promise<FaceVerdict[]>;
}

export interface FaceShares {
  images: number;
  /** Share of images in which the detector finds a face. */
  faceRate: Share & { count: number };
  /** Share of men among the detected faces (images without a face are not counted: on noise the gender net still answers). */
  male: Share & { count: number; faces: number };
}

const DEFAULTS: Required<FaceJudgeOptions> = { detectorInputSize: 160, minConfidence: 0.5, canvasScale: 3 };

let faceApi: Promise<FaceApi> | undefined;

/**
 * face-api's node-wasm build, with the weights its npm package ships (nothing is downloaded). It runs on the
 * current tfjs backend: it shares the tfjs instance of this process.
 */
async function loadFaceApi(): Promise<FaceApi> {
  faceApi ??= (async () => {
    const api = (await import('@vladmandic/face-api/dist/face-api.node-wasm.js')) as FaceApi & { default?: FaceApi };
    // esbuild's CommonJS bundle: Node may expose it as the default export only
    const faceapi = (api.nets ? api : api.default) as FaceApi;
    const models = join(dirname(createRequire(import.meta.url).resolve('@vladmandic/face-api/package.json')), 'model');
    await faceapi.nets.tinyFaceDetector.loadFromDisk(models);
    await faceapi.nets.ageGenderNet.loadFromDisk(models);
    return faceapi;
  })();
  // a failed load is not kept: the next call tries again
  faceApi.catch(() => (faceApi = undefined));
  return faceApi;
}

/**
 * The judge of real-photo faces: @vladmandic/face-api's tiny face detector (is there a face?) and its age-gender
 * net (a man's or a woman's?). Gender is read from the whole image, framed as the training images are: on the same
 * 200 UTKFace photos at 64 px it read 87.5% right from the whole image, 82% from the detector's box.
 */
export async function createFaceJudge(options: FaceJudgeOptions = {}): Promise<FaceJudge> {
  const settings = { ...DEFAULTS, ...options };
  const faceapi = await loadFaceApi();
  const detectorOptions = new faceapi.TinyFaceDetectorOptions({ inputSize: settings.detectorInputSize, scoreThreshold: settings.minConfidence });
  return {
    async judge(images) {
      checkImageSet(images, 'images');
      const { resolution, channels } = images;
      const canvasSide = Math.round(resolution * settings.canvasScale);
      const offset = Math.floor((canvasSide - resolution) / 2);
      const verdicts: FaceVerdict[] = [];
      for (let index = 0; index < images.count; index++) {
        const rgb = toRgbBytes(imageAt(images, index), resolution, channels);
        const canvas = new Uint8Array(canvasSide * canvasSide * 3).fill(128);
        for (let y = 0; y < resolution; y++) canvas.set(rgb.subarray(y * resolution * 3, (y + 1) * resolution * 3), ((y + offset) * canvasSide + offset) * 3);
        const padded = tf.tensor3d(canvas, [canvasSide, canvasSide, 3], 'int32');
        let detection;
        try {
          detection = await faceapi.detectSingleFace(padded as never, detectorOptions);
        } finally {
          padded.dispose();
        }
        if (!detection) {
          verdicts.push({ face: false, confidence: 0 });
          continue;
        }
        const image = tf.tensor3d(rgb, [resolution, resolution, 3], 'int32');
        let prediction;
        try {
          prediction = (await faceapi.nets.ageGenderNet.predictAgeAndGender(image as never)) as { gender: string; genderProbability: number };
        } finally {
          image.dispose();
        }
        const male = prediction.gender === 'male' ? prediction.genderProbability : 1 - prediction.genderProbability;
        verdicts.push({ face: true, confidence: detection.score, male });
      }
      return verdicts;
    },
  };
}

/** Face rate and share of men among the faces, with 95% Wilson intervals. */
export function faceShares(verdicts: readonly FaceVerdict[]): FaceShares {
  const faces = verdicts.filter((verdict) => verdict.face);
  const men = faces.filter((verdict) => (verdict.male ?? 0) > 0.5).length;
  return {
    images: verdicts.length,
    faceRate: { ...wilson(faces.length, verdicts.length), count: faces.length },
    male: { ...wilson(men, faces.length), count: men, faces: faces.length },
  };
}

export interface FaceJudgeAccuracy {
  /** Photos with a gender label (the others are left out). */
  photos: number;
  /** Share of the photos in which the detector finds a face: the ceiling of a generator's face rate at this size. */
  faceRate: Share & { count: number };
  /** Share of the detected faces whose gender the judge reads right. */
  genderAccuracy: Share & { count: number; faces: number };
}

type LabelledImages = ImageSet & { items?: ReadonlyArray<{ labels: Readonly<Record<string, unknown>> }> };

/** How well the judge does on labelled real photos (e.g. a UTKFace dataset at the generator's resolution). */
export async function measureFaceJudge(judge: FaceJudge, photos: LabelledImages): Promise<FaceJudgeAccuracy> {
  return scoreFaceJudge(await judge.judge(photos), photos);
}

/**
 * The judge's face rate and gender accuracy from its verdicts on labelled photos (one verdict per image, in order);
 * images without a gender label do not count (photos is 0 when none has one).
 */
export function scoreFaceJudge(verdicts: readonly FaceVerdict[], photos: LabelledImages): FaceJudgeAccuracy {
  const genders = (photos.items ?? []).map((item) => item.labels.gender);
  let photosWithGender = 0;
  let faces = 0;
  let right = 0;
  verdicts.forEach((verdict, index) => {
    const gender = genders[index];
    if (gender !== 'male' && gender !== 'female') return;
    photosWithGender++;
    if (!verdict.face) return;
    faces++;
    if ((verdict.male ?? 0) > 0.5 === (gender === 'male')) right++;
  });
  return {
    photos: photosWithGender,
    faceRate: { ...wilson(faces, photosWithGender), count: faces },
    genderAccuracy: { ...wilson(right, faces), count: right, faces },
  };
}
