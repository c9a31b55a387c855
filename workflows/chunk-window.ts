import { CancellationScope, condition, isCancellation, log, patched, sleep } from '@temporalio/workflow';
import type { FinalizeInput, ValidateInputResult } from '../activities/types';
import { chunkActivities } from './activities';
import { chunkSummary, type BatchProgress } from './progress';

type Outcome = FinalizeInput['outcome'];

/** A chunk failing for good no longer stops the others: its requests become chunk_failed lines at finalize. */
const CHUNK_FAILURE_CONTINUES = 'chunk-failure-continues';

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
): Promise<Outcome> {
  const timer = window ?? startWindowTimer(validation.expiresAtMs);
  const cancelled = condition(() => progress.cancelRequested).then(() => 'cancelled' as const);
  const workScope = new CancellationScope();
  const work = workScope
    .run(() => runChunks(batchId, validation, progress, onProgress))
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
  const first = await Promise.race([work, timer.expired, cancelled]);
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
            if (isCancellation(err) || !patched(CHUNK_FAILURE_CONTINUES)) throw err;
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
