export type {
  BackendName,
  Composition,
  CompositionPart,
  DatasetSettings,
  DatasetSource,
  LabelRange,
  LabelValue,
  EngineSettings,
  JudgeSettings,
  LabelFilter,
  ModelSettings,
  Settings,
  ThreadCount,
  TrainSettings,
} from './settings';
export { DEFAULT_SETTINGS } from './settings';
export { SpecError, type SpecIssue } from './errors';
export { loadSpec, parseSpec, type LoadedSpec } from './parse';
export { formatVariantTable, variantId, withBackend, type Variant } from './variants';
export { SWEEPABLE_PATHS, specSchema, specSchemaPath } from './schema';
export { CELEBA_ATTRIBUTES, SOURCE_LABELS, compositionCounts, isLabelRange, type LabelValues } from './sources';
