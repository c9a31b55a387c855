import type { BatchStatus } from '../activities/types';

/** What the progress query answers. */
export interface BatchProgress {
  status: BatchStatus;
  total: number;
  completed: number;
  failed: number;
  chunkCount: number;
  chunksDone: number;
  cancelRequested: boolean;
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
 * The workflow's current details in the Web UI, in words. The workflow hears of a chunk's results when it ends; each
 * running chunk's live count (and what it waits on) is in its heartbeat, under Pending Activities.
 */
export function describe(p: BatchProgress): string {
  if (p.status === 'validating') return 'validating: reading the input file';
  if (p.status === 'in_progress') {
    const running = p.chunkCount - p.chunksDone;
    return (
      `in_progress: ${p.completed + p.failed} of ${p.total} done, ${p.failed} failed; chunks ${p.chunksDone}/${p.chunkCount}` +
      `${running > 0 ? `; live counts of the running chunks under Pending Activities` : ''}` +
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
