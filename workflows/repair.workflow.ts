import { upsertSearchAttributes } from '@temporalio/workflow';
import type { BatchStatus } from '../activities/types';
import { fileActivities, transition } from './activities';
import type { BatchWorkflowResult } from './batch.workflow';
import { BATCH_STATUS } from './search-attributes';
import { announceEnd } from './webhook';

/** What maintenance starts a repair with: the batch and what its row says. */
export interface RepairBatchWorkflowInput {
  batchId: string;
  /** Unix milliseconds at which the batch's completion window ends. */
  expiresAtMs: number;
  /** Why it is repaired, for the errors entry of a batch that never ran and for the logs. */
  reason: string;
  heartbeatTimeoutMs?: number;
  /** The worker that started it has WEBHOOK_URL: the end is announced. */
  webhooks?: boolean;
}

/**
 * Ends a batch whose workflow closed while the store still shows it running (an operator pressed Terminate, a reset
 * went wrong, the workflow failed): maintenance starts this under the batch's own workflow id. Finished results are
 * kept. A batch that was running ends cancelled, with `batch_cancelled` lines for the rest; one that never got past
 * validation fails with an errors entry saying why; one that was finalizing finishes as it was going to.
 */
export async function repairBatchWorkflow({
  batchId,
  expiresAtMs,
  reason,
  heartbeatTimeoutMs,
  webhooks,
}: RepairBatchWorkflowInput): Promise<BatchWorkflowResult> {
  const { finalize } = fileActivities(heartbeatTimeoutMs);
  const enter = (status: BatchStatus) => upsertSearchAttributes([{ key: BATCH_STATUS, value: status }]);
  const found = await transition({ batchId, from: ['in_progress'], to: 'cancelling' });
  let status: BatchStatus = found.status;
  if (found.status === 'validating') {
    const failed = await transition({
      batchId,
      from: ['validating'],
      to: 'failed',
      error: { code: 'batch_terminated', message: `The batch's workflow ${reason} before any request ran.` },
    });
    status = failed.status;
    // A cancel can land between the two steps: then the batch ends cancelled instead.
    if (!failed.applied && failed.status === 'cancelling')
      status = (await finalize({ batchId, outcome: 'cancelled' })).status;
  } else if (found.status === 'cancelling') {
    enter('cancelling');
    status = (await finalize({ batchId, outcome: 'cancelled' })).status;
  } else if (found.status === 'finalizing') {
    const outcome = Date.now() >= expiresAtMs ? 'expired' : 'completed';
    status = (await finalize({ batchId, outcome })).status;
  }
  enter(status);
  if (status !== found.status) await announceEnd(batchId, status, webhooks);
  return { status };
}
