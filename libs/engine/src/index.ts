export { initBackend, type BackendInfo } from './backend';
export { trainVariant, type EpochReport, type StepProgress, type TrainHooks, type TrainOptions, type TrainResult } from './train';
export { createTrainer, type StepMetrics, type Trainer } from './trainer';
