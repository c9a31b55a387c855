import { Client, Connection } from '@temporalio/client';
import type OpenAI from 'openai';
import type { Batch } from 'openai/resources/batches';
import { createChatBatch, readResults, waitForStatus } from '../support/batch-helpers';
import { expectConsistentEnd } from '../support/expectations';
import { metricValue, pollUntil, runMaintenance } from '../support/maintenance';
import { simulatedStack } from '../support/simulated-stack';
import { spawnWorker } from '../support/worker-process';

const FINAL = ['completed', 'failed', 'expired', 'cancelled'];
const GRACE_SECONDS = 30;
const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/** Polls the batch until at least `n` requests have a committed result. */
async function waitForCompleted(client: OpenAI, id: string, n: number): Promise<Batch> {
  return pollUntil(
    () => client.batches.retrieve(id),
    (b) => (b.request_counts?.completed ?? 0) >= n,
    30000,
  );
}

/**
 * What an operator does to a batch's workflow in the Temporal Web UI or CLI (Request Cancellation, Terminate, Reset),
 * and cancels that lost their signal: every batch still ends, with its finished results kept.
 */
describe('operator actions on a batch workflow', () => {
  // Slow enough that a batch is still running when the operator acts: 2 requests in flight, 150 ms each.
  const t = simulatedStack(
    { latencyMs: 150 },
    {
      UPSTREAM_CONCURRENCY: '2',
      CHUNK_SIZE: '10',
      CHECKPOINT_INTERVAL_MS: '100',
      CHUNK_HEARTBEAT_TIMEOUT_MS: '3000',
      ORPHANED_BATCH_GRACE_SECONDS: String(GRACE_SECONDS),
      PROGRESS_REFRESH_SECONDS: '1',
    },
  );
  let connection: Connection;
  let temporal: Client;
  beforeAll(async () => {
    connection = await Connection.connect({ address: t.stack.config.TEMPORAL_ADDRESS! });
    temporal = new Client({ connection });
  });
  afterAll(() => connection?.close());

  const maintenance = () => runMaintenance(temporal, t.stack.config.TEMPORAL_TASK_QUEUE);

  it('Request Cancellation ends the batch cancelled through the store, finished results kept', async () => {
    const client = t.stack.client();
    const { ids, batch } = await createChatBatch(client, 'rc', 60);
    const before = await waitForCompleted(client, batch.id, 4);
    await temporal.workflow.getHandle(batch.id).cancel();
    const done = await waitForStatus(client, batch.id, FINAL, 30000);
    expect(done.status).toBe('cancelled');
    expect(done.cancelling_at).not.toBeNull();
    const { output, errors } = await expectConsistentEnd(client, done, ids);
    expect(output.length).toBeGreaterThanOrEqual(before.request_counts!.completed);
    expect(errors.filter((e) => e.error?.code === 'batch_cancelled').length).toBeGreaterThan(0);
    // The store is written by finalize; the workflow upserts its search attribute right after, then completes.
    const handle = temporal.workflow.getHandle(batch.id);
    expect(await handle.result()).toMatchObject({ status: 'cancelled' });
    expect((await handle.describe()).searchAttributes.BatchStatus).toEqual(['cancelled']);
  });

  it('Request Cancellation before validation ran ends the batch cancelled with every line accounted for', async () => {
    const client = t.stack.client();
    await t.stack.stopWorker();
    const { ids, batch } = await createChatBatch(client, 'rcv', 12);
    try {
      await temporal.workflow.getHandle(batch.id).cancel();
    } finally {
      await t.stack.startWorker();
    }
    const done = await waitForStatus(client, batch.id, FINAL, 30000);
    expect(done.status).toBe('cancelled');
    const { errors } = await expectConsistentEnd(client, done, ids);
    expect(errors).toHaveLength(12);
  });

  it('Terminate: maintenance finalizes the batch from its checkpoints as cancelled and counts the repair', async () => {
    const client = t.stack.client();
    const { ids, batch } = await createChatBatch(client, 'term', 60);
    const before = await waitForCompleted(client, batch.id, 4);
    const repairedBefore = await metricValue(t.stack.baseURL, 'batch_repaired_batches_total');
    await temporal.workflow.getHandle(batch.id).terminate('operator pressed Terminate');
    expect(await maintenance()).toMatchObject({ batchesRepaired: 1 });
    const done = await waitForStatus(client, batch.id, FINAL, 30000);
    expect(done.status).toBe('cancelled');
    const { output } = await expectConsistentEnd(client, done, ids);
    expect(output.length).toBeGreaterThanOrEqual(before.request_counts!.completed);
    expect(await metricValue(t.stack.baseURL, 'batch_repaired_batches_total')).toBe(repairedBefore + 1);
    // A later run finds nothing more to repair.
    expect(await maintenance()).toMatchObject({ batchesRepaired: 0 });
  });

  it('Terminate before any request ran: maintenance fails the batch with a clear errors entry', async () => {
    const client = t.stack.client();
    await t.stack.stopWorker();
    const { batch } = await createChatBatch(client, 'termv', 5);
    try {
      await temporal.workflow.getHandle(batch.id).terminate('operator pressed Terminate');
    } finally {
      await t.stack.startWorker();
    }
    expect(await maintenance()).toMatchObject({ batchesRepaired: 1 });
    const done = await waitForStatus(client, batch.id, FINAL, 30000);
    expect(done.status).toBe('failed');
    expect(done.failed_at).not.toBeNull();
    expect(done.errors?.data).toEqual([
      expect.objectContaining({ code: 'batch_terminated', message: expect.stringMatching(/terminated/) }),
    ]);
  });

  it('an activity reset mid-chunk loses no committed line: fencing tokens come from the store', async () => {
    const client = t.stack.client();
    // Worker processes that can be killed at once (an in-process worker's shutdown lets the chunks finish first).
    await t.stack.stopWorker();
    let worker = await spawnWorker(t.stack.config);
    try {
      // 16 chunks of 10, 8 of them in flight at a time, each holding committed results when the reset comes.
      const { ids, batch } = await createChatBatch(client, 'reset', 160);
      await waitForCompleted(client, batch.id, 6);
      // A killed worker makes the chunks' next attempts 2 (resuming from their checkpoints)...
      await worker.kill('SIGKILL');
      worker = await spawnWorker(t.stack.config);
      const mid = await client.batches.retrieve(batch.id);
      await waitForCompleted(client, batch.id, mid.request_counts!.completed + 10);
      await worker.kill('SIGKILL');
      // ...and a reset makes the next one attempt 1 again, while attempt 2's part files hold committed results.
      const handle = temporal.workflow.getHandle(batch.id);
      const pending = (await handle.describe()).raw.pendingActivities ?? [];
      const chunks = pending.filter((a) => a.activityType?.name === 'processChunk' && (a.attempt ?? 0) >= 2);
      expect(chunks.length).toBeGreaterThan(0);
      for (const a of chunks) {
        await connection.workflowService.resetActivity({
          namespace: t.stack.config.TEMPORAL_NAMESPACE,
          execution: { workflowId: batch.id },
          id: a.activityId,
        });
      }
      const retried = await pollUntil(
        async () => (await handle.describe()).raw.pendingActivities ?? [],
        (list) => chunks.every((c) => list.find((a) => a.activityId === c.activityId)?.attempt === 1),
      );
      expect(retried.length).toBeGreaterThan(0);
      await t.stack.startWorker();
      const done = await waitForStatus(client, batch.id, FINAL, 60000);
      expect(done.status).toBe('completed');
      const { output } = await expectConsistentEnd(client, done, ids);
      expect(output).toHaveLength(160);
    } finally {
      await worker.kill('SIGKILL');
      if (!t.stack.worker) await t.stack.startWorker();
    }
  });

  it('a cancel whose signal was lost is signalled again when the client repeats it', async () => {
    const client = t.stack.client();
    const { ids, batch } = await createChatBatch(client, 'lost', 200);
    await waitForCompleted(client, batch.id, 2);
    // The API wrote cancelling and died before it signalled the workflow.
    expect(
      await t.stack.storage.batches.transition(batch.id, ['in_progress'], 'cancelling', {
        cancelling_at: nowSeconds(),
      }),
    ).toBe(true);
    expect((await client.batches.cancel(batch.id)).status).toBe('cancelling');
    const done = await waitForStatus(client, batch.id, FINAL, 15000);
    expect(done.status).toBe('cancelled');
    const { errors } = await expectConsistentEnd(client, done, ids);
    expect(errors.filter((e) => e.error?.code === 'batch_cancelled').length).toBeGreaterThan(100);
  });

  it('maintenance signals a batch left cancelling past the grace period', async () => {
    const client = t.stack.client();
    const { ids, batch } = await createChatBatch(client, 'stale', 200);
    await waitForCompleted(client, batch.id, 2);
    expect(
      await t.stack.storage.batches.transition(batch.id, ['in_progress'], 'cancelling', {
        cancelling_at: nowSeconds() - GRACE_SECONDS - 5,
      }),
    ).toBe(true);
    expect(await maintenance()).toMatchObject({ cancelsResignalled: 1 });
    const done = await waitForStatus(client, batch.id, FINAL, 15000);
    expect(done.status).toBe('cancelled');
    await expectConsistentEnd(client, done, ids);
  });

  it('shows live progress in the Web UI: the workflow and each chunk say how far they are and what they wait on', async () => {
    const client = t.stack.client();
    const { batch } = await createChatBatch(client, 'live', 40);
    const handle = temporal.workflow.getHandle(batch.id);
    await waitForCompleted(client, batch.id, 4);
    const pending = await pollUntil(
      async () => (await handle.describe()).raw.pendingActivities ?? [],
      (list) => list.some((a) => a.heartbeatDetails?.payloads?.length),
    );
    const details = pending
      .filter((a) => a.heartbeatDetails?.payloads?.length)
      .map((a) => JSON.parse(Buffer.from(a.heartbeatDetails!.payloads![0].data!).toString()) as string);
    expect(details[0]).toMatch(/^chunk \d of 4: \d+ of 10 done; upstream default: .*concurrency \d+ of 2$/);
    const current = await pollUntil(
      async () =>
        ((await handle.query('__temporal_workflow_metadata')) as { currentDetails?: string }).currentDetails ?? '',
      (text) => /^in_progress: [1-9]\d* of 40 done/.test(text),
    );
    expect(current).toMatch(
      /^in_progress: \d+ of 40 done, 0 failed; chunks \d\/4; upstream default: .*, concurrency \d+ of 2$/,
    );
    await client.batches.cancel(batch.id);
    const done = await waitForStatus(client, batch.id, FINAL, 30000);
    expect(await readResults(client, done.error_file_id)).not.toHaveLength(0);
  });
});
