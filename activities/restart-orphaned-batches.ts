import { Context } from '@temporalio/activity';
import { orphanedBatchesRestarted } from '../src/metrics/metrics';
import type { MaintenanceDeps, RestartOrphanedBatchesInput, RestartOrphanedBatchesResult } from './maintenance';

/**
 * Builds the restartOrphanedBatches activity. The API inserts a batch row and then starts its workflow; if it stopped
 * in between, the batch would wait in validating forever. Each batch old enough that never began processing gets its
 * workflow started; one that has a workflow already is left alone (starting is idempotent on the batch id).
 */
export function makeRestartOrphanedBatches(deps: MaintenanceDeps) {
  return async function restartOrphanedBatches({
    createdBefore,
  }: RestartOrphanedBatchesInput): Promise<RestartOrphanedBatchesResult> {
    const ctx = Context.current();
    let afterSeq = Number(ctx.info.heartbeatDetails ?? 0);
    let checked = 0;
    let restarted = 0;
    for (;;) {
      const page = await deps.batches.listNotStarted(createdBefore, afterSeq, deps.pageSize);
      for (const batch of page) {
        checked++;
        if (await deps.startBatch(batch)) {
          restarted++;
          orphanedBatchesRestarted.inc();
          ctx.log.warn('started the workflow of an orphaned batch', { batchId: batch.id, status: batch.status });
        }
        afterSeq = batch.seq;
        ctx.heartbeat(afterSeq);
      }
      if (page.length < deps.pageSize) break;
    }
    ctx.log.info('orphaned batches checked', { checked, restarted, createdBefore });
    return { checked, restarted };
  };
}
