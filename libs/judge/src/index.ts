export { judgeGenerated, type JudgeInput } from './judge';
export {
  CARTOON_ATTRIBUTES,
  loadOrTrainCartoonClassifier,
  type CartoonAttribute,
  type CartoonClassifier,
  type CartoonClassifierInfo,
  type TrainCartoonClassifierOptions,
} from './cartoon-classifier';
export { createFaceJudge, measureFaceJudge, type FaceJudge, type FaceJudgeAccuracy, type FaceJudgeOptions } from './faces';
export { slicedWassersteinDistance, type SwdOptions, type SwdResult } from './swd';
export { meanPairwiseMsSsim, msSsim, type PairwiseMsSsim } from './msssim';
export { wilson, type Share } from './wilson';
export type { ImageSet } from './images';
