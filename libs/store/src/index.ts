export type {
  ExperimentRecord,
  GridRecord,
  MetricRow,
  RunFilter,
  RunRecord,
  RunStatus,
  Store,
  StoreReader,
  StoreWriter,
} from './types';
export { EPOCH_SUMMARY_STEP } from './types';
export { openStore, type OpenStoreOptions } from './sqlite';
export { StoreMissingError, StoreVersionError } from './errors';
