import type { BatchRow, BatchStore } from '../src/storage/batch.store';
import type { BlobStore } from '../src/storage/blob.store';
import type { FileStore } from '../src/storage/file.store';
import { makeDeleteExpiredFiles } from './delete-expired-files';
import { makeRestartOrphanedBatches } from './restart-orphaned-batches';

/** The narrow dependencies of the maintenance activities; the worker builds them once. */
export interface MaintenanceDeps {
  files: FileStore;
  batches: BatchStore;
  blobs: BlobStore;
  /** Starts a batch's workflow exactly as the API does; false when it already exists. */
  startBatch(row: BatchRow): Promise<boolean>;
  /** Rows read per query while paging (bounded, so one run never loads a whole table). */
  pageSize: number;
}

/** Deletes files whose `expires_at` is at or before `expiredBy` (Unix seconds). */
export interface DeleteExpiredFilesInput {
  expiredBy: number;
}

/** How many expired files were deleted, blobs included. */
export interface DeleteExpiredFilesResult {
  deleted: number;
}

/** Looks at batches created at or before `createdBefore` (Unix seconds) whose processing never began. */
export interface RestartOrphanedBatchesInput {
  createdBefore: number;
}

/** How many such batches were looked at, and how many had no workflow and were started. */
export interface RestartOrphanedBatchesResult {
  checked: number;
  restarted: number;
}

/** The maintenance activities over injected dependencies; the worker registers them beside the batch activities. */
export function createMaintenanceActivities(deps: MaintenanceDeps) {
  return {
    deleteExpiredFiles: makeDeleteExpiredFiles(deps),
    restartOrphanedBatches: makeRestartOrphanedBatches(deps),
  };
}

/** The activity interface the maintenance workflow proxies. */
export type MaintenanceActivities = ReturnType<typeof createMaintenanceActivities>;
