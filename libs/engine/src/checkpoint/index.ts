export {
  CHECKPOINT_FORMAT,
  checkpointFitsSettings,
  checkpointFolderName,
  isResumableCheckpoint,
  loadCheckpointGenerator,
  pruneResumeState,
  readCheckpointState,
  restoreCheckpoint,
  writeCheckpoint,
  type CheckpointState,
} from './checkpoint';
export { fileModelHandler, writeFileAtomic } from './files';
