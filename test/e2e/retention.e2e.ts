import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import type OpenAI from 'openai';
import { toFile } from 'openai';
import { newBatchId } from '../../src/common/ids';
import { newValidatingBatch, type NewBatch } from '../../src/storage/batch.store';
import { startBatchWorkflow } from '../../src/temporal/batch-workflow-start';
import { ensureMaintenanceSchedule, maintenanceScheduleId } from '../../src/temporal/maintenance-schedule';
import { chatLine, readResults, uploadLines, waitForStatus } from '../support/batch-helpers';
import { expectConsistentEnd } from '../support/expectations';
import { startStack, type Stack } from '../support/stack';
import { metricValue, runMaintenance as runMaintenanceNow } from '../support/maintenance';
import { listFileBlobs } from '../support/test-blobs';
import { UpstreamSimulator } from '../support/upstream-simulator';

const GRACE_SECONDS = 30;
const nowSeconds = (): number => Math.floor(Date.now() / 1000);

describe('the maintenance schedule', () => {
  let sim: UpstreamSimulator;
  let stack: Stack;
  let client: OpenAI;
  let connection: Connection;
  let temporal: Client;

  beforeAll(async () => {
    sim = await UpstreamSimulator.start();
    stack = await startStack({
      UPSTREAM_BASE_URL: sim.baseUrl,
      ORPHANED_BATCH_GRACE_SECONDS: String(GRACE_SECONDS),
      CHECKPOINT_INTERVAL_MS: '100',
    });
    client = stack.client();
    connection = await Connection.connect({ address: stack.config.TEMPORAL_ADDRESS! });
    temporal = new Client({ connection });
  });
  afterAll(async () => {
    await schedule().delete();
    await connection.close();
    await stack.close();
    await sim.close();
  });

  const schedule = () => temporal.schedule.getHandle(maintenanceScheduleId(stack.config.TEMPORAL_TASK_QUEUE));

  const runMaintenance = () => runMaintenanceNow(temporal, stack.config.TEMPORAL_TASK_QUEUE);

  /** Uploads a small batch input file that expires after an hour (the shortest the API accepts). */
  async function upload(name: string): Promise<string> {
    const file = await client.files.create({
      file: await toFile(Buffer.from(`${JSON.stringify(chatLine(name))}\n`), `${name}.jsonl`),
      purpose: 'batch',
      expires_after: { anchor: 'created_at', seconds: 3600 },
    });
    return file.id;
  }

  /** Moves a file's expiry into the past, as if its hour had gone by. */
  async function age(fileId: string): Promise<void> {
    await stack.storage.db.kysely
      .updateTable('files')
      .set({ expires_at: nowSeconds() - 10 })
      .where('id', '=', fileId)
      .execute();
  }

  /** A validating batch row without a workflow, as the API leaves it when it dies between insert and start. */
  async function insertOrphan(inputFileId: string, createdAt: number): Promise<NewBatch> {
    const row = newValidatingBatch({
      id: newBatchId(),
      owner: 'default',
      endpoint: '/v1/chat/completions',
      input_file_id: inputFileId,
      completion_window: '24h',
      created_at: createdAt,
      expires_at: createdAt + stack.config.COMPLETION_WINDOW_SECONDS,
    });
    await stack.storage.batches.insert(row);
    return row;
  }

  const metric = (name: string) => metricValue(stack.baseURL, name);

  it('is created by the worker: every RETENTION_INTERVAL_SECONDS, never overlapping, on the worker task queue', async () => {
    const description = await schedule().describe();
    expect(description.spec.intervals).toEqual([{ every: 3600_000 }]);
    expect(description.policies.overlap).toBe('SKIP');
    expect(description.action).toMatchObject({
      type: 'startWorkflow',
      workflowType: 'maintenanceWorkflow',
      taskQueue: stack.config.TEMPORAL_TASK_QUEUE,
      args: [{ orphanGraceSeconds: GRACE_SECONDS }],
    });
    expect(description.state.paused).toBe(false);
  });

  it('deletes an expired file with its blob; keeps an unexpired one and an expired input of a running batch', async () => {
    const [expired, fresh] = [await upload('expired'), await upload('fresh')];
    // A batch whose only request takes a minute stays in_progress while maintenance runs.
    const input = await uploadLines(client, [chatLine('slow', { x_sim: { latency_ms: 60000 } })]);
    const batch = await client.batches.create({
      input_file_id: input,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    await waitForStatus(client, batch.id, ['in_progress']);
    await age(expired);
    await age(input);
    expect(await listFileBlobs(stack.config)).toEqual(
      expect.arrayContaining([`files/${expired}`, `files/${fresh}`, `files/${input}`]),
    );
    const deletedBefore = await metric('batch_retention_files_deleted_total');

    expect(await runMaintenance()).toMatchObject({ filesDeleted: 1 });
    await expect(client.files.retrieve(expired)).rejects.toMatchObject({ status: 404 });
    await expect(client.files.content(expired)).rejects.toMatchObject({ status: 404 });
    const blobs = await listFileBlobs(stack.config);
    expect(blobs).not.toContain(`files/${expired}`);
    expect(blobs).toEqual(expect.arrayContaining([`files/${fresh}`, `files/${input}`]));
    expect((await client.files.retrieve(fresh)).id).toBe(fresh);
    expect((await client.files.retrieve(input)).id).toBe(input);
    expect(await metric('batch_retention_files_deleted_total')).toBe(deletedBefore + 1);

    // Once the batch has ended, its expired input goes at the next run; its output files have not expired.
    await client.batches.cancel(batch.id);
    const done = await waitForStatus(client, batch.id, ['cancelled']);
    await expectConsistentEnd(client, done, ['slow']);
    expect(await runMaintenance()).toMatchObject({ filesDeleted: 1 });
    await expect(client.files.retrieve(input)).rejects.toMatchObject({ status: 404 });
    expect(await listFileBlobs(stack.config)).not.toContain(`files/${input}`);
    expect((await client.files.retrieve(done.error_file_id!)).id).toBe(done.error_file_id);
    expect((await client.files.retrieve(fresh)).id).toBe(fresh);
  });

  it('starts the workflow of a batch the API never started once it is past the grace period', async () => {
    const ids = ['o-1', 'o-2', 'o-3'];
    const input = await uploadLines(
      client,
      ids.map((id) => chatLine(id)),
    );
    const orphan = await insertOrphan(input, nowSeconds() - GRACE_SECONDS - 10);
    const recent = await insertOrphan(input, nowSeconds());
    expect((await client.batches.retrieve(orphan.id)).status).toBe('validating');
    await expect(temporal.workflow.getHandle(orphan.id).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
    const restartedBefore = await metric('batch_orphaned_batches_restarted_total');

    expect(await runMaintenance()).toMatchObject({ batchesChecked: 1, batchesRestarted: 1 });
    const done = await waitForStatus(client, orphan.id, ['completed', 'failed', 'cancelled', 'expired']);
    expect(done.status).toBe('completed');
    const { output } = await expectConsistentEnd(client, done, ids);
    for (const line of output) {
      expect(line.response?.status_code).toBe(200);
      expect(line.response?.body).toMatchObject({ object: 'chat.completion', model: 'gpt-test' });
    }
    expect(await metric('batch_orphaned_batches_restarted_total')).toBe(restartedBefore + 1);

    // Started as the API starts it: the same search attributes, and never a second time.
    const handle = temporal.workflow.getHandle(orphan.id);
    await handle.result();
    expect((await handle.describe()).searchAttributes).toMatchObject({
      BatchStatus: ['completed'],
      BatchEndpoint: ['/v1/chat/completions'],
      BatchOwner: ['default'],
      BatchModel: ['gpt-test'],
    });
    const settings = {
      taskQueue: stack.config.TEMPORAL_TASK_QUEUE,
      heartbeatTimeoutMs: stack.config.CHUNK_HEARTBEAT_TIMEOUT_MS,
    };
    expect(await startBatchWorkflow(temporal.workflow, orphan, settings)).toBe(false);

    // The batch created within the grace period is left to the API that is (as far as anyone knows) starting it.
    expect((await client.batches.retrieve(recent.id)).status).toBe('validating');
    await expect(temporal.workflow.getHandle(recent.id).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
    // That API gives up on it, so later runs here do not find it once it is old enough.
    expect(await stack.storage.batches.transition(recent.id, ['validating'], 'failed')).toBe(true);
  });

  it('finishes as cancelled a batch cancelled before its workflow ever started', async () => {
    const ids = ['c-1', 'c-2'];
    const input = await uploadLines(
      client,
      ids.map((id) => chatLine(id)),
    );
    const orphan = await insertOrphan(input, nowSeconds() - GRACE_SECONDS - 10);
    expect((await client.batches.cancel(orphan.id)).status).toBe('cancelling');

    expect(await runMaintenance()).toMatchObject({ batchesRestarted: 1 });
    const done = await waitForStatus(client, orphan.id, ['cancelled', 'completed', 'failed']);
    expect(done.status).toBe('cancelled');
    const { errors } = await expectConsistentEnd(client, done, ids);
    expect(errors).toHaveLength(2);
    expect(await readResults(client, done.output_file_id)).toEqual([]);
  });

  it('is ensured idempotently by workers starting together, and a changed interval updates it', async () => {
    const taskQueue = `${stack.config.TEMPORAL_TASK_QUEUE}-ensure`;
    const settings = { taskQueue, intervalSeconds: 3600, orphanGraceSeconds: 60 };
    try {
      const outcomes = await Promise.all(
        Array.from({ length: 5 }, () => ensureMaintenanceSchedule(temporal.schedule, settings)),
      );
      expect(outcomes.filter((o) => o === 'created')).toHaveLength(1);
      expect(outcomes.filter((o) => o === 'unchanged')).toHaveLength(4);
      const handle = temporal.schedule.getHandle(maintenanceScheduleId(taskQueue));

      const changed = { ...settings, intervalSeconds: 600, orphanGraceSeconds: 120 };
      expect(await ensureMaintenanceSchedule(temporal.schedule, changed)).toBe('updated');
      const description = await handle.describe();
      expect(description.spec.intervals).toEqual([{ every: 600_000 }]);
      expect(description.action.args).toEqual([{ orphanGraceSeconds: 120 }]);
      expect(description.policies.overlap).toBe('SKIP');
      expect(await ensureMaintenanceSchedule(temporal.schedule, changed)).toBe('unchanged');
    } finally {
      await temporal.schedule.getHandle(maintenanceScheduleId(taskQueue)).delete();
    }
  });
});
