import { log } from '@temporalio/activity';
import { cancelsResignalled, strandedBatchesRepaired } from '../src/metrics/metrics';
import { isFinal } from '../src/batch-format/status';
import { forEachRow } from './for-each-row';
import type { MaintenanceDeps, RepairStrandedBatchesInput, RepairStrandedBatchesResult } from './maintenance';

/**
 * Builds the repairStrandedBatches activity: every batch the store shows unfinished must have a running workflow
 * that will end it. A workflow closed by an operator (Terminate in the Web UI), a failed one or one whose history is
 * gone gets a repair workflow under the batch's id, which ends the batch from its checkpoints. A batch cancelling past
 * the grace period is signalled again (the API may have died between writing cancelling and signalling).
 */
export function makeRepairStrandedBatches(deps: MaintenanceDeps) {
  return async function repairStrandedBatches({
    now,
    graceSeconds,
  }: RepairStrandedBatchesInput): Promise<RepairStrandedBatchesResult> {
    const result = { checked: 0, repaired: 0, resignalled: 0 };
    await forEachRow(
      (afterSeq, limit) => deps.batches.listUnfinished(now, afterSeq, limit),
      deps.pageSize,
      async (batch) => {
        result.checked++;
        const workflow = await deps.workflowStatus(batch.id);
        if (workflow === 'running') {
          if (batch.status === 'cancelling' && Number(batch.cancelling_at) <= now - graceSeconds) {
            await deps.signalCancel(batch.id);
            result.resignalled++;
            cancelsResignalled.inc();
            log.warn('signalled a batch cancelling past the grace period again', { batchId: batch.id });
          }
          return;
        }
        // No workflow and never started: the orphan restart's case (the API may still be starting it).
        if (workflow === 'missing' && batch.in_progress_at === null) return;
        // Read again: a workflow that just completed has written its end status first.
        const current = await deps.batches.getById(batch.id);
        if (!current || isFinal(current.status)) return;
        const reason = workflow === 'missing' ? 'is gone' : `was ${workflow}`;
        if (await deps.startRepair(current, reason)) {
          result.repaired++;
          strandedBatchesRepaired.inc();
          log.warn('repairing a batch whose workflow closed before it ended', {
            batchId: batch.id,
            status: current.status,
            workflow,
          });
        }
      },
    );
    log.info('stranded batches checked', { ...result });
    return result;
  };
}
