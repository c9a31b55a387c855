import { log } from '@temporalio/activity';
import { retentionFilesDeleted } from '../src/metrics/metrics';
import { forEachRow } from './for-each-row';
import type { DeleteExpiredFilesInput, DeleteExpiredFilesResult, MaintenanceDeps } from './maintenance';

/**
 * Builds the deleteExpiredFiles activity: pages through expired files no unfinished batch reads and deletes each row,
 * then its blob. A crash between the two leaves at worst a blob without a row, never a row without its blob.
 */
export function makeDeleteExpiredFiles(deps: MaintenanceDeps) {
  return async function deleteExpiredFiles({ expiredBy }: DeleteExpiredFilesInput): Promise<DeleteExpiredFilesResult> {
    let deleted = 0;
    await forEachRow(
      (afterSeq, limit) => deps.files.listExpired(expiredBy, afterSeq, limit),
      deps.pageSize,
      async (file) => {
        // Checked again in the delete itself: a batch created from the file since it was listed keeps it.
        if (await deps.files.deleteExpired(file.id, expiredBy)) {
          await deps.blobs.delete(file.blob_key);
          deleted++;
          retentionFilesDeleted.inc();
        }
      },
    );
    log.info('expired files deleted', { deleted, expiredBy });
    return { deleted };
  };
}
