export type { Dataset, DatasetItem, DatasetSummary, FaceLabels, GridOptions, LabelCounts, LoadDatasetOptions } from './types';
export { loadDataset } from './dataset';
export { cartoonFace, type CartoonFace } from './cartoon';
export { encodeGridPng } from './image';
