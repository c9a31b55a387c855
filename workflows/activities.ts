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

/**
 * Validate and finalize of a small input (a few hundred kilobytes: they take milliseconds) as local activities: they
 * run inside the workflow task that schedules them, so a batch saves a workflow task and a task queue round trip for
 * each (history: one marker instead of three activity events and a workflow task). One attempt only: while a local
 * activity runs or retries, the workflow's timers (the completion window) wait for it, so a step that fails goes on
 * as the activity, with its heartbeats and retries. A worker lost meanwhile is noticed by the workflow task's
 * timeout, and the next worker runs the step again (both are safe to run again).
 */
export function localFileActivities() {
  return proxyLocalActivities<BatchActivities>({
    startToCloseTimeout: '30 seconds',
    retry: { maximumAttempts: 1 },
  });
}

/** Status changes in the store: short compare-and-sets. */
export const { transition } = proxyActivities<BatchActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '200 milliseconds', maximumInterval: '10 seconds' },
});

/**
 * Chunk activities with the configured heartbeat timeout (carried in the validation result, so replay-safe). `eager`:
 * the worker that completes the workflow task may take the chunk at once, in that task's response.
 */
export function chunkActivities(validation: ValidateInputResult, eager: boolean) {
  // Chunks heartbeat every checkpoint; a lost worker is noticed within the heartbeat timeout and the chunk is
  // retried elsewhere from its last checkpoint. Cancellation waits for the chunk to commit what it finished.
  return proxyActivities<BatchActivities>({
    startToCloseTimeout: '26 hours',
    allowEagerDispatch: eager,
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
