export type {
  Dataset,
  DatasetItem,
  DatasetSummary,
  FaceLabels,
  GridOptions,
  LabelCounts,
  Labels,
  LoadDatasetOptions,
  SkippedFile,
} from './types';
export { loadDataset } from './dataset';
export { cartoonFace, type CartoonFace } from './cartoon';
export { encodeGridPng } from './image';
export { encodePreviewPng } from './preview';
