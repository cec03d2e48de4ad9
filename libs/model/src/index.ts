export { buildDiscriminator, buildGenerator, scaledFilters, type BuildOptions, type DropoutLayerFactory } from './dcgan';
export { modelFlops, type ModelFlops } from './flops';
export {
  PHASE_DEINTERLEAVE,
  PHASE_INTERLEAVE,
  SUB_PIXEL_FILTER,
  SUB_PIXEL_FILTER_GRAD,
  SUB_PIXEL_KERNELS,
  axisPhases,
  phaseAxis,
  phaseGroup,
  phaseGroupOf,
  phaseGroups,
  subPixelTap,
  type PhaseAxis,
  type PhaseGroup,
  subPixelKernelsRegistered,
  upsampleConv2d,
  UpsampleConv2D,
  type UpsampleConv2DArgs,
} from './upsample-conv';
export { SeparateBiasConv2D, type SeparateBiasConv2DArgs } from './separate-bias-conv';
export {
  BATCH_NORM_TRAIN_GRAD,
  BATCH_VARIANCE,
  batchNormalization,
  batchNormTraining,
  FaceganBatchNormalization,
  MOVING_AVERAGE,
  updateMovingAverage,
  type BatchNormTrainGradAttrs,
  type BatchNormTraining,
  type MovingAverageAttrs,
} from './batch-norm';
