import { Client } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import { createMaintenanceActivities, type MaintenanceActivities } from '../../activities/maintenance';
import type { AppConfig } from '../config/config';
import type { Storage } from '../storage/storage';
import { cancelSignal } from '../../workflows/batch.workflow';
import { batchWorkflowStatus, startBatchWorkflow, startRepairWorkflow } from '../temporal/batch-workflow-start';
import { ensureMaintenanceSchedule } from '../temporal/maintenance-schedule';

/** Rows each maintenance query reads at a time. */
const MAINTENANCE_PAGE_SIZE = 200;

/**
 * Ensures the maintenance schedule for this task queue and builds its activities. Both go through the worker's
 * native connection, so the worker never opens a second (gRPC-js) connection to Temporal.
 */
export async function setUpMaintenance(
  config: AppConfig,
  storage: Storage,
  connection: NativeConnection,
): Promise<MaintenanceActivities> {
  const client = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
  try {
    await ensureMaintenanceSchedule(client.schedule, {
      taskQueue: config.TEMPORAL_TASK_QUEUE,
      intervalSeconds: config.RETENTION_INTERVAL_SECONDS,
      orphanGraceSeconds: config.ORPHANED_BATCH_GRACE_SECONDS,
    });
  } catch (err) {
    throw new Error(`Cannot create or update the maintenance schedule: ${(err as Error).message}`, { cause: err });
  }
  const workflowSettings = {
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    heartbeatTimeoutMs: config.CHUNK_HEARTBEAT_TIMEOUT_MS,
    webhooks: config.WEBHOOK_URL !== undefined,
  };
  return createMaintenanceActivities({
    files: storage.files,
    batches: storage.batches,
    blobs: storage.blobs,
    startBatch: (row) => startBatchWorkflow(client.workflow, row, workflowSettings),
    workflowStatus: (batchId) => batchWorkflowStatus(client.workflow, batchId),
    startRepair: (row, reason) => startRepairWorkflow(client.workflow, row, reason, workflowSettings),
    signalCancel: async (batchId) => {
      await client.workflow.getHandle(batchId).signal(cancelSignal);
    },
    pageSize: MAINTENANCE_PAGE_SIZE,
  });
}
