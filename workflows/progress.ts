import type { BatchStatus, ReadProgressResult } from '../activities/types';

/** What the progress query answers. */
export interface BatchProgress {
  status: BatchStatus;
  total: number;
  completed: number;
  failed: number;
  chunkCount: number;
  chunksDone: number;
  cancelRequested: boolean;
  /** The committed counts read from the store while chunks run (finished chunks' counts are in completed/failed). */
  live?: ReadProgressResult;
}

/** A batch that has not been validated yet. */
export const initialProgress = (): BatchProgress => ({
  status: 'validating',
  total: 0,
  completed: 0,
  failed: 0,
  chunkCount: 0,
  chunksDone: 0,
  cancelRequested: false,
});

/**
 * The workflow's current details in the Web UI, in words. The workflow hears of a chunk's results when it ends, and
 * reads the committed counts from the store now and then while chunks run (`live`); each running chunk's own count,
 * and what it waits on, is in its heartbeat, under Pending Activities.
 */
export function describe(p: BatchProgress): string {
  if (p.status === 'validating') return 'validating: reading the input file';
  if (p.status === 'in_progress') {
    const live = p.live && p.live.completed + p.live.failed >= p.completed + p.failed ? p.live : undefined;
    const failed = live ? live.failed : p.failed;
    const done = live ? live.completed + live.failed : p.completed + p.failed;
    return (
      `in_progress: ${done} of ${p.total} done, ${failed} failed; chunks ${p.chunksDone}/${p.chunkCount}` +
      `${live?.waitingOn ? `; ${live.waitingOn}` : ''}` +
      `${p.cancelRequested ? '; cancel requested' : ''}`
    );
  }
  return `${p.status}: ${p.completed} completed, ${p.failed} failed of ${p.total}`;
}

/** "chunk 3 of 100: requests 1001-1500" (every chunk but the last holds the same number of requests). */
export function chunkSummary(chunk: number, chunkCount: number, total: number): string {
  const size = Math.ceil(total / chunkCount);
  return `chunk ${chunk + 1} of ${chunkCount}: requests ${chunk * size + 1}-${Math.min(total, (chunk + 1) * size)}`;
}
