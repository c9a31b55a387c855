import { log } from '@temporalio/activity';
import { orphanedBatchesRestarted } from '../src/metrics/metrics';
import { forEachRow } from './for-each-row';
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
    let checked = 0;
    let restarted = 0;
    await forEachRow(
      (afterSeq, limit) => deps.batches.listNotStarted(createdBefore, afterSeq, limit),
      deps.pageSize,
      async (batch) => {
        checked++;
        if (await deps.startBatch(batch)) {
          restarted++;
          orphanedBatchesRestarted.inc();
          log.warn('started the workflow of an orphaned batch', { batchId: batch.id, status: batch.status });
        }
      },
    );
    log.info('orphaned batches checked', { checked, restarted, createdBefore });
    return { checked, restarted };
  };
}
