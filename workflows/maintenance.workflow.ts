import { ApplicationFailure, log, patched, proxyActivities } from '@temporalio/workflow';
import type { MaintenanceActivities } from '../activities/maintenance';

/** The maintenance workflow's argument, set by the schedule from the worker's configuration. */
export interface MaintenanceWorkflowInput {
  /**
   * A batch still validating this long after creation, without a workflow, is orphaned; a batch cancelling this long
   * is signalled again (ORPHANED_BATCH_GRACE_SECONDS).
   */
  orphanGraceSeconds: number;
}

/** What one maintenance run did. */
export interface MaintenanceResult {
  filesDeleted: number;
  batchesChecked: number;
  batchesRestarted: number;
  /** Batches whose workflow had closed before they ended (an operator's Terminate): ended from their checkpoints. */
  batchesRepaired: number;
  /** Batches cancelling past the grace period that were signalled again. */
  cancelsResignalled: number;
}

/** Runs that also repair batches whose workflow closed early (runs started before this skip it on replay). */
const REPAIR_STRANDED_BATCHES = 'repair-stranded-batches';

// Both activities page through the store and heartbeat per row. Attempts are bounded: the schedule skips a run while
// the previous one is still going, so a run that could retry forever would stop every later one.
const { deleteExpiredFiles, restartOrphanedBatches, repairStrandedBatches } = proxyActivities<MaintenanceActivities>({
  startToCloseTimeout: '1 hour',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute', maximumAttempts: 5 },
});

/**
 * One maintenance pass: deletes expired files with their blobs, starts batches whose workflow never started, and
 * repairs batches whose workflow closed before they ended.
 */
export async function maintenanceWorkflow({
  orphanGraceSeconds,
}: MaintenanceWorkflowInput): Promise<MaintenanceResult> {
  // Workflow time: the same cutoffs on replay and for every retried attempt.
  const now = Math.floor(Date.now() / 1000);
  // Independent duties: a failing one (say, the blob store is down) does not hold back the other.
  const [files, batches, stranded] = await Promise.allSettled([
    deleteExpiredFiles({ expiredBy: now }),
    restartOrphanedBatches({ createdBefore: now - orphanGraceSeconds }),
    patched(REPAIR_STRANDED_BATCHES)
      ? repairStrandedBatches({ now, graceSeconds: orphanGraceSeconds })
      : Promise.resolve({ checked: 0, repaired: 0, resignalled: 0 }),
  ]);
  const result: MaintenanceResult = {
    filesDeleted: files.status === 'fulfilled' ? files.value.deleted : 0,
    batchesChecked: batches.status === 'fulfilled' ? batches.value.checked : 0,
    batchesRestarted: batches.status === 'fulfilled' ? batches.value.restarted : 0,
    batchesRepaired: stranded.status === 'fulfilled' ? stranded.value.repaired : 0,
    cancelsResignalled: stranded.status === 'fulfilled' ? stranded.value.resignalled : 0,
  };
  log.info('maintenance run done', { ...result });
  for (const outcome of [files, batches, stranded]) {
    if (outcome.status === 'rejected') {
      throw ApplicationFailure.create({
        type: 'MaintenanceFailed',
        message: 'a maintenance activity failed; the next scheduled run tries again',
        cause: outcome.reason as Error,
      });
    }
  }
  return result;
}
