import { ApplicationFailure } from '@temporalio/common';
import type { BatchPatch } from '../src/storage/batch.store';
import type { ActivityDeps } from './deps';
import type { BatchStatusName, TransitionInput, TransitionResult } from './types';

const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/** The timestamp column each status sets when entered. */
const STAMP: Partial<Record<BatchStatusName, keyof BatchPatch>> = {
  in_progress: 'in_progress_at',
  finalizing: 'finalizing_at',
  failed: 'failed_at',
  cancelling: 'cancelling_at',
};

/** Builds the transition activity: a compare-and-set on the status, so API and workflow writes never undo each other. */
export function makeTransition(deps: ActivityDeps) {
  return async function transition(input: TransitionInput): Promise<TransitionResult> {
    const patch: BatchPatch = {};
    const stamp = STAMP[input.to];
    if (stamp) (patch as Record<string, number>)[stamp] = nowSeconds();
    if (input.total !== undefined) patch.total = input.total;
    if (input.model !== undefined) patch.model = input.model;
    const applied = await deps.batches.transition(input.batchId, input.from, input.to, patch);
    const batch = await deps.batches.getById(input.batchId);
    if (!batch) throw ApplicationFailure.create({ type: 'BatchNotFound', message: input.batchId, nonRetryable: true });
    return { applied, status: batch.status as BatchStatusName };
  };
}
