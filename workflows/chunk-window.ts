import { CancellationScope, condition, isCancellation, log, patched, sleep } from '@temporalio/workflow';
import type { FinalizeInput, ValidateInputResult } from '../activities/types';
import { chunkActivities, readProgress } from './activities';
import { chunkSummary, type BatchProgress } from './progress';

type Outcome = FinalizeInput['outcome'];

/** A chunk failing for good no longer stops the others: its requests become chunk_failed lines at finalize. */
const CHUNK_FAILURE_CONTINUES = 'chunk-failure-continues';
/** The workflow reads the committed counts into its current details while chunks run. */
const LIVE_PROGRESS = 'live-progress';
/** Reads at the configured interval; later ones at ten times that, to bound a 24-hour batch's history. */
const FAST_REFRESHES = 10;

/** The completion window's timer, in a scope of its own so that finishing early can cancel it. */
export interface WindowTimer {
  /** Resolves 'expired' when the window ends, undefined once cancelled. */
  expired: Promise<'expired' | undefined>;
  cancel(): void;
}

/** Starts the completion window's timer: it ends at `expiresAtMs` (workflow time). */
export function startWindowTimer(expiresAtMs: number): WindowTimer {
  const scope = new CancellationScope();
  const expired = scope
    .run(() => sleep(Math.max(1, expiresAtMs - Date.now())))
    .then(
      () => 'expired' as const,
      () => undefined,
    );
  return { expired, cancel: () => scope.cancel() };
}

/**
 * Runs the chunks, racing them against the completion window and the cancel signal. `window` is the timer started
 * before validation, when there is one; otherwise the window's timer starts here.
 */
export async function runUntilStopped(
  batchId: string,
  validation: ValidateInputResult,
  progress: BatchProgress,
  enterFinalizing: () => Promise<boolean>,
  onProgress: () => void,
  window?: WindowTimer,
  /** The fewer-steps patch holds, which implies the chunk-failure and live-progress ones. */
  fewer = false,
): Promise<Outcome> {
  const timer = window ?? startWindowTimer(validation.expiresAtMs);
  const cancelled = condition(() => progress.cancelRequested).then(() => 'cancelled' as const);
  const workScope = new CancellationScope();
  const work = workScope
    .run(() => runChunks(batchId, validation, progress, onProgress, fewer))
    .then(
      () => 'completed' as const,
      (err: unknown) => {
        if (isCancellation(err)) return 'stopped' as const;
        // Batches that began before chunk failures stopped being fatal: a chunk that can never run (its index is
        // gone) stopped the others; finalize reports the requests that did not run as failed lines.
        log.error('chunk processing failed', { batchId, error: String(err) });
        return 'completed' as const;
      },
    );
  const stopRefresh = startProgressRefresh(batchId, validation, progress, onProgress, fewer);
  const first = await Promise.race([work, timer.expired, cancelled]);
  stopRefresh();
  if (first === 'completed') {
    timer.cancel();
    return 'completed';
  }
  // Expired or cancelled: stop scheduling, cancel in-flight chunks and wait until each has committed.
  workScope.cancel();
  let outcome: Outcome = first === 'expired' ? 'expired' : 'cancelled';
  // The window has closed: the batch is finalizing from now on (a cancel from here is refused), while the chunks
  // commit. A cancel that reached the store first wins.
  if (outcome === 'expired' && !(await enterFinalizing())) outcome = 'cancelled';
  await work;
  timer.cancel();
  return outcome;
}

/**
 * While chunks run, reads the batch's committed counts (and what its upstream waits on) into the current details every
 * `progressRefreshMs`, ten times less often after the first ten reads: a chunk reports its counts to the workflow only
 * when it ends, so a batch of one chunk would otherwise show 0 done until it finishes. Returns what stops it.
 */
function startProgressRefresh(
  batchId: string,
  validation: ValidateInputResult,
  progress: BatchProgress,
  onProgress: () => void,
  fewer: boolean,
): () => void {
  const interval = validation.progressRefreshMs;
  if (!interval || !(fewer || patched(LIVE_PROGRESS))) return () => undefined;
  const scope = new CancellationScope();
  scope
    .run(async () => {
      for (let i = 0; ; i++) {
        await sleep(i < FAST_REFRESHES ? interval : interval * 10);
        try {
          progress.live = await readProgress({ batchId, model: validation.model });
          onProgress();
        } catch (err) {
          // A failed read leaves the details as they were; the next one tries again.
          if (isCancellation(err)) throw err;
        }
      }
    })
    .catch(() => undefined);
  return () => scope.cancel();
}

/** A sliding window of chunk activities: at most `validation.window` in flight. */
async function runChunks(
  batchId: string,
  validation: ValidateInputResult,
  progress: BatchProgress,
  onProgress: () => void,
  fewer: boolean,
): Promise<void> {
  // The first chunk is dispatched eagerly: it starts in the response to the workflow task that schedules it, a task
  // queue round trip sooner than through matching (the batch's first request goes out that much earlier). The others
  // go through the task queue, so every worker process shares them: eager dispatch hands a chunk to the process that
  // completed the workflow task, and a batch's workflow tasks all go to one process (its sticky queue).
  const first = chunkActivities(validation, true).processChunk;
  const rest = chunkActivities(validation, false).processChunk;
  const running = new Set<Promise<void>>();
  let next = 0;
  try {
    while (next < validation.chunkCount || running.size > 0) {
      while (running.size < validation.window && next < validation.chunkCount) {
        const chunk = next++;
        // The chunk's summary in the Web UI's pending activities and history: which requests it holds.
        const summary = chunkSummary(chunk, validation.chunkCount, validation.total);
        const processChunk = chunk === 0 ? first : rest;
        const task: Promise<void> = processChunk.executeWithOptions({ summary }, [{ batchId, chunk }]).then(
          (r) => {
            running.delete(task);
            progress.completed += r.completed;
            progress.failed += r.failed;
            progress.chunksDone++;
            onProgress();
          },
          (err: unknown) => {
            // A chunk that fails for good (its retries are for crashes and lost workers, so this is rare: its index
            // or input is gone) does not strand the others: finalize writes its unfinished requests as failed lines.
            if (isCancellation(err) || !(fewer || patched(CHUNK_FAILURE_CONTINUES))) throw err;
            running.delete(task);
            log.error('chunk failed for good; its unfinished requests become chunk_failed lines', {
              batchId,
              chunk,
              error: String(err),
            });
            progress.chunksDone++;
            onProgress();
          },
        );
        running.add(task);
      }
      await Promise.race(running);
    }
  } finally {
    // On cancellation every in-flight chunk must finish committing before finalize reads its part files.
    await Promise.allSettled(running);
  }
}
