import { Context } from '@temporalio/activity';
import { retentionFilesDeleted } from '../src/metrics/metrics';
import type { DeleteExpiredFilesInput, DeleteExpiredFilesResult, MaintenanceDeps } from './maintenance';

/**
 * Builds the deleteExpiredFiles activity: pages through expired files no unfinished batch reads and deletes each row,
 * then its blob. A crash between the two leaves at worst a blob without a row, never a row without its blob.
 */
export function makeDeleteExpiredFiles(deps: MaintenanceDeps) {
  return async function deleteExpiredFiles({ expiredBy }: DeleteExpiredFilesInput): Promise<DeleteExpiredFilesResult> {
    const ctx = Context.current();
    // A retried attempt resumes after the last file the previous one finished (its heartbeat).
    let afterSeq = Number(ctx.info.heartbeatDetails ?? 0);
    let deleted = 0;
    for (;;) {
      const page = await deps.files.listExpired(expiredBy, afterSeq, deps.pageSize);
      for (const file of page) {
        // Checked again in the delete itself: a batch created from the file since it was listed keeps it.
        if (await deps.files.deleteExpired(file.id, expiredBy)) {
          await deps.blobs.delete(file.blob_key);
          deleted++;
          retentionFilesDeleted.inc();
        }
        afterSeq = file.seq;
        ctx.heartbeat(afterSeq); // the SDK throttles what it sends
      }
      if (page.length < deps.pageSize) break;
    }
    ctx.log.info('expired files deleted', { deleted, expiredBy });
    return { deleted };
  };
}
