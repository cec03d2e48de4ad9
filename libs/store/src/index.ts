export type {
  CheckpointRecord,
  ExperimentRecord,
  GridRecord,
  MetricRow,
  RunColumn,
  RunCondition,
  RunConditionOp,
  RunField,
  RunFields,
  RunFilter,
  RunGroup,
  RunPage,
  RunQuery,
  RunRecord,
  RunStatus,
  Store,
  StoreReader,
  StoreWriter,
} from './types';
export { EPOCH_SUMMARY_STEP, MAX_RUN_PAGE, RUN_COLUMNS } from './types';
export { openStore, type OpenStoreOptions } from './sqlite';
export { StoreMissingError, StoreVersionError } from './errors';
