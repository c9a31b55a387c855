import { Client, Connection } from '@temporalio/client';
import { createChatBatch, readResults, waitForStatus } from '../support/batch-helpers';
import { simulatedStack } from '../support/simulated-stack';

describe('expiry with a short completion window', () => {
  const t = simulatedStack(
    { latencyMs: 400 },
    {
      UPSTREAM_CONCURRENCY: '2',
      COMPLETION_WINDOW_SECONDS: '3',
      CHUNK_SIZE: '5',
      CHECKPOINT_INTERVAL_MS: '100',
    },
  );

  it('keeps finished results, writes batch_expired for the rest, and ends expired', async () => {
    const client = t.stack.client();
    const { ids, batch: created } = await createChatBatch(client, 'x', 30);
    expect(created.expires_at).toBe(created.created_at + 3);
    const expired = await waitForStatus(client, created.id, ['expired', 'completed'], 30000);
    expect(expired.status).toBe('expired');
    expect(expired.expired_at).toEqual(expect.any(Number));
    expect(expired.finalizing_at).toEqual(expect.any(Number));
    expect(expired.expired_at! - expired.created_at).toBeLessThanOrEqual(6);

    const output = await readResults(client, expired.output_file_id);
    const errors = await readResults(client, expired.error_file_id);
    expect([...output, ...errors].map((l) => l.custom_id).sort()).toEqual([...ids].sort());
    expect(output.length).toBeGreaterThan(0);
    expect(errors.length).toBeGreaterThan(0);
    for (const e of errors) expect(e).toMatchObject({ response: null, error: { code: 'batch_expired' } });
    expect(expired.request_counts).toEqual({ total: 30, completed: output.length, failed: 0 });

    const connection = await Connection.connect({ address: t.stack.config.TEMPORAL_ADDRESS! });
    try {
      const handle = new Client({ connection }).workflow.getHandle(created.id);
      // The store is written by the finalize activity; the workflow upserts its attribute right after.
      expect(await handle.result()).toMatchObject({ status: 'expired' });
      const { searchAttributes } = await handle.describe();
      expect(searchAttributes).toMatchObject({
        BatchStatus: ['expired'],
        BatchEndpoint: ['/v1/chat/completions'],
        BatchModel: ['gpt-test'],
        BatchOwner: ['default'],
      });
      const history = await handle.fetchHistory();
      expect(history.events!.length).toBeLessThan(200);
    } finally {
      await connection.close();
    }
  });
  it('counts the window from creation: a batch whose validation keeps failing ends expired', async () => {
    const client = t.stack.client();
    await t.stack.stopWorker();
    const { batch } = await createChatBatch(client, 'v', 4);
    // The input's bytes are gone (a lost disk, a bucket emptied by hand): every validation attempt fails.
    const file = await t.stack.storage.files.getById(batch.input_file_id);
    await t.stack.storage.blobs.delete(file!.blob_key);
    await t.stack.startWorker();
    const done = await waitForStatus(client, batch.id, ['expired', 'failed', 'completed', 'cancelled'], 30000);
    expect(done.status).toBe('expired');
    expect(done.expired_at! - done.created_at).toBeLessThanOrEqual(8);
    expect(done.errors?.data).toEqual([expect.objectContaining({ code: 'batch_expired' })]);
  });
});
