import type { WorkflowClient, WorkflowStartOptions } from '@temporalio/client';
import { WorkflowExecutionAlreadyStartedError, WorkflowIdReusePolicy } from '@temporalio/common';
import type { batchWorkflow } from '../../workflows';
import { BATCH_ENDPOINT, BATCH_OWNER, BATCH_STATUS } from '../../workflows/search-attributes';
import type { BatchRow } from '../storage/batch.store';

/** The batch fields its workflow is started with. */
export type BatchStartFields = Pick<BatchRow, 'id' | 'endpoint' | 'owner' | 'input_file_id'>;

/** Where batch workflows run and how quickly a silent validate or finalize is retried. */
export interface BatchWorkflowSettings {
  taskQueue: string;
  heartbeatTimeoutMs: number;
}

/** How a batch's workflow is started: id = batch id, its search attributes, and a summary for the Web UI. */
export function batchWorkflowStartOptions(
  row: BatchStartFields,
  settings: BatchWorkflowSettings,
): WorkflowStartOptions<typeof batchWorkflow> {
  return {
    workflowId: row.id,
    taskQueue: settings.taskQueue,
    args: [{ batchId: row.id, heartbeatTimeoutMs: settings.heartbeatTimeoutMs }],
    // One workflow per batch, ever: a batch whose workflow already ran (even one that was terminated) is not rerun.
    workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
    typedSearchAttributes: [
      { key: BATCH_STATUS, value: 'validating' },
      { key: BATCH_ENDPOINT, value: row.endpoint },
      { key: BATCH_OWNER, value: row.owner },
    ],
    staticSummary: `batch ${row.endpoint} from ${row.input_file_id}`,
  };
}

/**
 * Starts the batch's workflow; false when a workflow with its id already exists (the API and the orphan reconciler
 * may both try, and either may win).
 */
export async function startBatchWorkflow(
  client: WorkflowClient,
  row: BatchStartFields,
  settings: BatchWorkflowSettings,
): Promise<boolean> {
  try {
    await client.start<typeof batchWorkflow>('batchWorkflow', batchWorkflowStartOptions(row, settings));
    return true;
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return false;
    throw err;
  }
}
