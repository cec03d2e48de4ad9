export { initBackend, type BackendInfo, type InitBackendOptions } from './backend';
export {
  trainVariant,
  type CheckpointReport,
  type EpochReport,
  type GemmTuningReport,
  type StepProgress,
  type TrainHooks,
  type TrainOptions,
  type TrainResult,
} from './train';
export { createTrainer, type StepMetrics, type Trainer, type TrainerOptions } from './trainer';
export {
  checkpointFitsSettings,
  checkpointFolderName,
  isResumableCheckpoint,
  loadCheckpointGenerator,
  readCheckpointState,
  type CheckpointState,
} from './checkpoint/index';
export { generateImages, interpolationLatents, randomLatents, sampleGridPng, slerp } from './sample';
export {
  benchSettings,
  benchTrainStep,
  prepareBenchBackend,
  type BenchBackend,
  type BenchBackendOptions,
  type KernelProfileRow,
  type TrainStepBenchConfig,
  type TrainStepBenchResult,
  type TrainStepProfile,
} from './bench/train-step-bench';
export { formatGemmTuning, gemmTuningTotals, type GemmTuningResult } from './webgpu/index';
