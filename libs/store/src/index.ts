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
// export { openStore } from './sqlite';  -- openStore(path: string, options?: { readonly?: boolean }): Promise<Store>
