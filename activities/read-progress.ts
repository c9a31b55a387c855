import type { ActivityDeps } from './deps';
import type { ReadProgressInput, ReadProgressResult } from './types';

/**
 * Builds the readProgress activity (run as a local activity): the counts a running batch's chunks have committed, and
 * what its upstream waits on, for the workflow's current details in the Web UI. Read only.
 */
export function makeReadProgress(deps: ActivityDeps) {
  return async function readProgress({ batchId, model }: ReadProgressInput): Promise<ReadProgressResult> {
    const progress = await deps.batches.chunkProgress(batchId);
    const upstream = deps.router.forModel(model);
    return {
      completed: progress.completed,
      failed: progress.failed,
      waitingOn: upstream ? `upstream ${upstream.name}: ${upstream.describeState()}` : null,
    };
  };
}
