import { ApplicationFailure } from '@temporalio/common';
import type { BatchPatch } from '../src/storage/batch.store';
import { nowSeconds } from '../src/common/clock';
import type { ActivityDeps } from './deps';
import { STATUS, type BatchStatus } from '../src/batch-format/status';
import type { TransitionInput, TransitionResult } from './types';

/**
 * Builds the transition activity: a compare-and-set on the status, so API and workflow writes never undo each other.
 * A transition that finds its target already set succeeded: Temporal may run it again after its UPDATE committed
 * (a worker killed after the commit, a completion lost while the server restarts, a reset workflow).
 */
export function makeTransition(deps: ActivityDeps) {
  return async function transition(input: TransitionInput): Promise<TransitionResult> {
    const patch: BatchPatch = {};
    const stamp = STATUS[input.to].stamp;
    if (stamp) patch[stamp] = nowSeconds();
    if (input.total !== undefined) patch.total = input.total;
    if (input.model !== undefined) patch.model = input.model;
    if (input.error)
      patch.errors = JSON.stringify({ object: 'list', data: [{ ...input.error, param: null, line: null }] });
    const applied = await deps.batches.transition(input.batchId, input.from, input.to, patch);
    const batch = await deps.batches.getById(input.batchId);
    if (!batch) throw ApplicationFailure.create({ type: 'BatchNotFound', message: input.batchId, nonRetryable: true });
    const status = batch.status as BatchStatus;
    return { applied: applied || status === input.to, status };
  };
}
