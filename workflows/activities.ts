import { ActivityCancellationType, proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { BatchActivities } from '../activities';
import type { ValidateInputResult } from '../activities/types';

/**
 * Validate and finalize stream whole files; they heartbeat as they go, so a lost worker is noticed quickly
 * (`heartbeatTimeoutMs` is CHUNK_HEARTBEAT_TIMEOUT_MS of whoever started the workflow; older batches lack it).
 */
export function fileActivities(heartbeatTimeoutMs: number | undefined) {
  return proxyActivities<BatchActivities>({
    startToCloseTimeout: '1 hour',
    heartbeatTimeout: heartbeatTimeoutMs ?? '2 minutes',
    retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
  });
}

/** Status changes in the store: short compare-and-sets. */
export const { transition } = proxyActivities<BatchActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '200 milliseconds', maximumInterval: '10 seconds' },
});

/** Chunk activities with the configured heartbeat timeout (carried in the validation result, so replay-safe). */
export function chunkActivities(validation: ValidateInputResult) {
  // Chunks heartbeat every checkpoint; a lost worker is noticed within the heartbeat timeout and the chunk is
  // retried elsewhere from its last checkpoint. Cancellation waits for the chunk to commit what it finished.
  return proxyActivities<BatchActivities>({
    startToCloseTimeout: '26 hours',
    // Eager dispatch would hand every chunk to the worker process that completed the workflow task: a batch of several
    // chunks goes through the task queue instead, so all worker processes share it. One chunk gains the round trip.
    allowEagerDispatch: validation.chunkCount <= 1,
    heartbeatTimeout: validation.heartbeatTimeoutMs ?? 20000,
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
  });
}

/** A read of the store for the current details: a local activity (no task queue round trip, one marker event). */
export const { readProgress } = proxyLocalActivities<BatchActivities>({
  startToCloseTimeout: '10 seconds',
  retry: { maximumAttempts: 3 },
});
