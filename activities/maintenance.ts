import type { BatchRow, BatchStore } from '../src/storage/batch.store';
import type { BlobStore } from '../src/storage/blob.store';
import type { FileStore } from '../src/storage/file.store';
import { makeDeleteExpiredFiles } from './delete-expired-files';
import { makeRepairStrandedBatches } from './repair-stranded-batches';
import { makeRestartOrphanedBatches } from './restart-orphaned-batches';

/** The narrow dependencies of the maintenance activities; the worker builds them once. */
export interface MaintenanceDeps {
  files: FileStore;
  batches: BatchStore;
  blobs: BlobStore;
  /** Starts a batch's workflow exactly as the API does; false when it already exists. */
  startBatch(row: BatchRow): Promise<boolean>;
  /** The batch workflow's state: running, missing (never started, or its history is gone), or how it closed. */
  workflowStatus(batchId: string): Promise<'running' | 'missing' | string>;
  /** Starts the repair workflow under the batch's id; false when a workflow with that id is running. */
  startRepair(row: BatchRow, reason: string): Promise<boolean>;
  /** Sends the batch's workflow the cancel signal. */
  signalCancel(batchId: string): Promise<void>;
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

/** Looks at batches that have not ended, created at or before `now` (Unix seconds). */
export interface RepairStrandedBatchesInput {
  now: number;
  /** A batch cancelling this long is signalled again (ORPHANED_BATCH_GRACE_SECONDS). */
  graceSeconds: number;
}

/** How many batches were looked at, repaired (their workflow had closed) and signalled again. */
export interface RepairStrandedBatchesResult {
  checked: number;
  repaired: number;
  resignalled: number;
}

/** The maintenance activities over injected dependencies; the worker registers them beside the batch activities. */
export function createMaintenanceActivities(deps: MaintenanceDeps) {
  return {
    deleteExpiredFiles: makeDeleteExpiredFiles(deps),
    restartOrphanedBatches: makeRestartOrphanedBatches(deps),
    repairStrandedBatches: makeRepairStrandedBatches(deps),
  };
}

/** The activity interface the maintenance workflow proxies. */
export type MaintenanceActivities = ReturnType<typeof createMaintenanceActivities>;
