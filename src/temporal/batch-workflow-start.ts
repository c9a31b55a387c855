import { WorkflowNotFoundError, type WorkflowClient, type WorkflowStartOptions } from '@temporalio/client';
import { WorkflowExecutionAlreadyStartedError, WorkflowIdReusePolicy } from '@temporalio/common';
import type { batchWorkflow, repairBatchWorkflow } from '../../workflows';
import { BATCH_ENDPOINT, BATCH_OWNER, BATCH_STATUS } from '../../workflows/search-attributes';
import { BATCH_WORKFLOW_STEPS } from '../../workflows/steps';
import type { BatchRow } from '../storage/batch.store';

/** The batch fields its workflow is started with. */
export type BatchStartFields = Pick<BatchRow, 'id' | 'endpoint' | 'owner' | 'input_file_id' | 'expires_at'> & {
  /** The input file's size, when known: a small input is validated and finalized in local activities. */
  inputBytes?: number;
};

/** Where batch workflows run and how quickly a silent validate or finalize is retried. */
export interface BatchWorkflowSettings {
  taskQueue: string;
  heartbeatTimeoutMs: number;
  /** Whether end states are announced to a webhook (WEBHOOK_URL is set); read by repairs. */
  webhooks?: boolean;
}

/** How a batch's workflow is started: id = batch id, its search attributes, and a summary for the Web UI. */
export function batchWorkflowStartOptions(
  row: BatchStartFields,
  settings: BatchWorkflowSettings,
): WorkflowStartOptions<typeof batchWorkflow> {
  return {
    workflowId: row.id,
    taskQueue: settings.taskQueue,
    args: [
      {
        batchId: row.id,
        heartbeatTimeoutMs: settings.heartbeatTimeoutMs,
        expiresAtMs: Number(row.expires_at) * 1000,
        ...(row.inputBytes !== undefined ? { inputBytes: row.inputBytes } : {}),
        steps: BATCH_WORKFLOW_STEPS,
      },
    ],
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

/**
 * Starts the repair of a batch whose workflow closed before the batch ended, under the batch's own workflow id (a new
 * run beside the closed one); false when a workflow with that id is running.
 */
export async function startRepairWorkflow(
  client: WorkflowClient,
  row: BatchStartFields & Pick<BatchRow, 'status'>,
  reason: string,
  settings: BatchWorkflowSettings,
): Promise<boolean> {
  try {
    await client.start<typeof repairBatchWorkflow>('repairBatchWorkflow', {
      workflowId: row.id,
      taskQueue: settings.taskQueue,
      args: [
        {
          batchId: row.id,
          expiresAtMs: Number(row.expires_at) * 1000,
          reason,
          heartbeatTimeoutMs: settings.heartbeatTimeoutMs,
          webhooks: settings.webhooks,
        },
      ],
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
      typedSearchAttributes: [
        { key: BATCH_STATUS, value: row.status },
        { key: BATCH_ENDPOINT, value: row.endpoint },
        { key: BATCH_OWNER, value: row.owner },
      ],
      staticSummary: `repair of batch ${row.id}: its workflow ${reason} while the batch was ${row.status}`,
    });
    return true;
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return false;
    throw err;
  }
}

/** The state of the workflow under a batch's id: running, missing, or how its latest run closed (lower case). */
export async function batchWorkflowStatus(client: WorkflowClient, batchId: string): Promise<string> {
  try {
    const { status } = await client.getHandle(batchId).describe();
    return status.name === 'RUNNING' ? 'running' : status.name.toLowerCase().replace(/_/g, ' ');
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return 'missing';
    throw err;
  }
}
