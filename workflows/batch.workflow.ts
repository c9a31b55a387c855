import {
  ActivityCancellationType,
  CancellationScope,
  condition,
  defineQuery,
  defineSignal,
  isCancellation,
  log,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { BatchActivities } from '../activities';
import type { BatchStatusName, FinalizeInput, FinalizeResult, ValidateInputResult } from '../activities/types';
import { BATCH_MODEL, BATCH_STATUS } from './search-attributes';
import { announceEnd } from './webhook';

/** The workflow's only argument: the batch id (the workflow id is the same). */
export interface BatchWorkflowInput {
  batchId: string;
  /**
   * How long validate and finalize may go without a heartbeat before Temporal retries them on another worker
   * (CHUNK_HEARTBEAT_TIMEOUT_MS of the API that started the batch). Older batches lack it: two minutes.
   */
  heartbeatTimeoutMs?: number;
}

/** What the progress query answers. */
export interface BatchProgress {
  status: BatchStatusName;
  total: number;
  completed: number;
  failed: number;
  chunkCount: number;
  chunksDone: number;
  cancelRequested: boolean;
}

/** Asks the batch to stop: in-flight chunks are cancelled, finished results are kept. */
export const cancelSignal = defineSignal('cancel');
/** The batch's progress as the workflow knows it. */
export const progressQuery = defineQuery<BatchProgress>('progress');

/** Validate and finalize stream whole files; they heartbeat as they go, so a lost worker is noticed quickly. */
function fileActivities(heartbeatTimeoutMs: number | undefined) {
  return proxyActivities<BatchActivities>({
    startToCloseTimeout: '1 hour',
    heartbeatTimeout: heartbeatTimeoutMs ?? '2 minutes',
    retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
  });
}
const { transition } = proxyActivities<BatchActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '200 milliseconds', maximumInterval: '10 seconds' },
});
/** Chunk activities with the configured heartbeat timeout (carried in the validation result, so replay-safe). */
function chunkActivities(validation: ValidateInputResult) {
  // Chunks heartbeat every checkpoint; a lost worker is noticed within the heartbeat timeout and the chunk is
  // retried elsewhere from its last checkpoint. Cancellation waits for the chunk to commit what it finished.
  return proxyActivities<BatchActivities>({
    startToCloseTimeout: '26 hours',
    heartbeatTimeout: validation.heartbeatTimeoutMs ?? 20000,
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
  });
}

type Outcome = FinalizeInput['outcome'];

/** One batch: validate, run chunks through a sliding window until done, expired or cancelled, then finalize. */
export async function batchWorkflow({
  batchId,
  heartbeatTimeoutMs,
}: BatchWorkflowInput): Promise<FinalizeResult | { status: 'failed' }> {
  const { validateInput, finalize } = fileActivities(heartbeatTimeoutMs);
  const progress: BatchProgress = {
    status: 'validating',
    total: 0,
    completed: 0,
    failed: 0,
    chunkCount: 0,
    chunksDone: 0,
    cancelRequested: false,
  };
  const enter = (status: BatchStatusName) => {
    progress.status = status;
    upsertSearchAttributes([{ key: BATCH_STATUS, value: status }]);
    setCurrentDetails(describe(progress));
  };
  setHandler(cancelSignal, () => {
    progress.cancelRequested = true;
  });
  setHandler(progressQuery, () => ({ ...progress }));
  setCurrentDetails(describe(progress));

  const validation = await validateInput({ batchId });
  const announce = (status: BatchStatusName) => announceEnd(batchId, status, validation.webhooks);
  if (!validation.ok) {
    const failed = await transition({ batchId, from: ['validating'], to: 'failed' });
    if (failed.applied) {
      enter('failed');
      await announce('failed');
      return { status: 'failed' };
    }
    // A cancel landed during validation: the batch ends cancelled, with its validation errors recorded.
    return end(await finalize({ batchId, outcome: 'cancelled' }), enter, announce);
  }
  progress.total = validation.total;
  progress.chunkCount = validation.chunkCount;
  if (validation.model) upsertSearchAttributes([{ key: BATCH_MODEL, value: validation.model }]);
  const started = await transition({
    batchId,
    from: ['validating'],
    to: 'in_progress',
    total: validation.total,
    model: validation.model,
  });
  let finalizingEntered = false;
  /** in_progress -> finalizing; false when a cancel reached the store first. */
  const enterFinalizing = async (): Promise<boolean> => {
    const finalizing = await transition({ batchId, from: ['in_progress'], to: 'finalizing' });
    if (finalizing.applied) {
      finalizingEntered = true;
      enter('finalizing');
    }
    return finalizing.applied;
  };
  let outcome: Outcome = 'cancelled';
  if (started.applied && !progress.cancelRequested) {
    enter('in_progress');
    outcome = await runUntilStopped(batchId, validation, progress, enterFinalizing, () =>
      setCurrentDetails(describe(progress)),
    );
  }
  if (outcome !== 'cancelled' && !finalizingEntered && !(await enterFinalizing())) outcome = 'cancelled';
  if (outcome === 'cancelled') enter('cancelling');
  return end(await finalize({ batchId, outcome }), enter, announce);
}

/** The end status is in the store once finalize returns: shown at once, then announced to the webhook. */
async function end(
  result: FinalizeResult,
  enter: (s: BatchStatusName) => void,
  announce: (s: BatchStatusName) => Promise<void>,
): Promise<FinalizeResult> {
  enter(result.status);
  await announce(result.status);
  return result;
}

/** Runs the chunks, racing them against the completion window and the cancel signal. */
async function runUntilStopped(
  batchId: string,
  validation: ValidateInputResult,
  progress: BatchProgress,
  enterFinalizing: () => Promise<boolean>,
  onProgress: () => void,
): Promise<Outcome> {
  const timerScope = new CancellationScope();
  const expired = timerScope
    .run(() => sleep(Math.max(1, validation.expiresAtMs - Date.now())))
    .then(
      () => 'expired' as const,
      () => undefined,
    );
  const cancelled = condition(() => progress.cancelRequested).then(() => 'cancelled' as const);
  const workScope = new CancellationScope();
  const work = workScope
    .run(() => runChunks(batchId, validation, progress, onProgress))
    .then(
      () => 'completed' as const,
      (err: unknown) => {
        if (isCancellation(err)) return 'stopped' as const;
        // A chunk that can never run (its index is gone) must not strand the batch: finalize reports the
        // requests it could not run as failed lines.
        log.error('chunk processing failed', { batchId, error: String(err) });
        return 'completed' as const;
      },
    );
  const first = await Promise.race([work, expired, cancelled]);
  if (first === 'completed') {
    timerScope.cancel();
    return 'completed';
  }
  // Expired or cancelled: stop scheduling, cancel in-flight chunks and wait until each has committed.
  workScope.cancel();
  let outcome: Outcome = first === 'expired' ? 'expired' : 'cancelled';
  // The window has closed: the batch is finalizing from now on (a cancel from here is refused), while the chunks
  // commit. A cancel that reached the store first wins.
  if (outcome === 'expired' && !(await enterFinalizing())) outcome = 'cancelled';
  await work;
  timerScope.cancel();
  return outcome;
}

/** A sliding window of chunk activities: at most `validation.window` in flight. */
async function runChunks(
  batchId: string,
  validation: ValidateInputResult,
  progress: BatchProgress,
  onProgress: () => void,
): Promise<void> {
  const { processChunk } = chunkActivities(validation);
  const running = new Set<Promise<void>>();
  let next = 0;
  try {
    while (next < validation.chunkCount || running.size > 0) {
      while (running.size < validation.window && next < validation.chunkCount) {
        const chunk = next++;
        // The chunk's summary in the Web UI's pending activities and history: which requests it holds.
        const summary = chunkSummary(chunk, validation.chunkCount, validation.total);
        const task: Promise<void> = processChunk.executeWithOptions({ summary }, [{ batchId, chunk }]).then((r) => {
          running.delete(task);
          progress.completed += r.completed;
          progress.failed += r.failed;
          progress.chunksDone++;
          onProgress();
        });
        running.add(task);
      }
      await Promise.race(running);
    }
  } finally {
    // On cancellation every in-flight chunk must finish committing before finalize reads its part files.
    await Promise.allSettled(running);
  }
}

/** "chunk 3 of 100: requests 1001-1500" (every chunk but the last holds the same number of requests). */
function chunkSummary(chunk: number, chunkCount: number, total: number): string {
  const size = Math.ceil(total / chunkCount);
  return `chunk ${chunk + 1} of ${chunkCount}: requests ${chunk * size + 1}-${Math.min(total, (chunk + 1) * size)}`;
}

/** The workflow's current details in the Web UI, in words. */
function describe(p: BatchProgress): string {
  if (p.status === 'validating') return 'validating: reading the input file';
  if (p.status === 'in_progress') {
    return `in_progress: ${p.completed + p.failed} of ${p.total} done, ${p.failed} failed; chunks ${p.chunksDone}/${p.chunkCount}${p.cancelRequested ? '; cancel requested' : ''}`;
  }
  return `${p.status}: ${p.completed} completed, ${p.failed} failed of ${p.total}`;
}
