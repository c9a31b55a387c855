import { Client, Connection } from '@temporalio/client';
import { createChatBatch, waitForStatus } from '../support/batch-helpers';
import { expectConsistentEnd } from '../support/expectations';
import { pollUntil, runMaintenance } from '../support/maintenance';
import { simulatedStack } from '../support/simulated-stack';
import { listFileBlobs } from '../support/test-blobs';

/** A client deletes the input file of a batch that is still running. */
describe('an input file deleted while its batch runs', () => {
  const t = simulatedStack(
    { latencyMs: 200 },
    { UPSTREAM_CONCURRENCY: '2', CHUNK_SIZE: '10', CHECKPOINT_INTERVAL_MS: '100' },
  );
  let connection: Connection;
  let temporal: Client;
  beforeAll(async () => {
    connection = await Connection.connect({ address: t.stack.config.TEMPORAL_ADDRESS! });
    temporal = new Client({ connection });
  });
  afterAll(() => connection?.close());

  it('answers deleted as OpenAI does, keeps the blob until the batch ends, and the batch still ends', async () => {
    const client = t.stack.client();
    const { ids, batch } = await createChatBatch(client, 'del', 60);
    await pollUntil(
      () => client.batches.retrieve(batch.id),
      (b) => (b.request_counts?.completed ?? 0) >= 2,
    );
    const inputId = batch.input_file_id;
    expect(await client.files.delete(inputId)).toEqual({ id: inputId, object: 'file', deleted: true });
    await expect(client.files.retrieve(inputId)).rejects.toMatchObject({ status: 404 });
    await expect(client.files.content(inputId)).rejects.toMatchObject({ status: 404 });
    await expect(client.files.delete(inputId)).rejects.toMatchObject({ status: 404 });
    const listed = [];
    for await (const f of client.files.list()) listed.push(f.id);
    expect(listed).not.toContain(inputId);
    // The batch still reads it: its chunks and finalize need the lines.
    expect(await listFileBlobs(t.stack.config)).toContain(`files/${inputId}`);

    await client.batches.cancel(batch.id);
    const done = await waitForStatus(client, batch.id, ['cancelled', 'completed', 'failed', 'expired'], 30000);
    expect(done.status).toBe('cancelled');
    await expectConsistentEnd(client, done, ids);

    // Once the batch has ended, maintenance removes what the delete left.
    const result = await runMaintenance(temporal, t.stack.config.TEMPORAL_TASK_QUEUE);
    expect(result.filesDeleted).toBeGreaterThanOrEqual(1);
    expect(await listFileBlobs(t.stack.config)).not.toContain(`files/${inputId}`);
    await expect(client.files.retrieve(inputId)).rejects.toMatchObject({ status: 404 });
  });

  it('a file no running batch reads is removed with its blob at once', async () => {
    const client = t.stack.client();
    const { batch } = await createChatBatch(client, 'done', 3);
    const done = await waitForStatus(client, batch.id, ['completed'], 30000);
    expect(await client.files.delete(done.input_file_id)).toMatchObject({ deleted: true });
    expect(await listFileBlobs(t.stack.config)).not.toContain(`files/${done.input_file_id}`);
  });
});
