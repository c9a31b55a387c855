import Sqlite from 'better-sqlite3';
import { sqlitePath } from '../../src/storage/database';
import { createChatBatch, readResults } from '../support/batch-helpers';
import { startStack, type Stack } from '../support/stack';
import { UpstreamSimulator } from '../support/upstream-simulator';

describe('the metadata store locked by another process mid-batch', () => {
  let sim: UpstreamSimulator;
  let stack: Stack;

  beforeAll(async () => {
    sim = await UpstreamSimulator.start({ latencyMs: 20 });
    stack = await startStack({
      UPSTREAM_BASE_URL: sim.baseUrl,
      UPSTREAM_CONCURRENCY: '4',
      CHUNK_SIZE: '40',
      CHECKPOINT_INTERVAL_MS: '200',
    });
  });
  afterAll(async () => {
    await stack.close();
    await sim.close();
  });

  it('rides out a write lock held longer than the busy timeout: the batch completes exactly once', async () => {
    const client = stack.client();
    const { ids, batch: created } = await createChatBatch(client, 'l', 400, { counted: true });
    const status = async () => client.batches.retrieve(created.id).catch(() => undefined);
    while (((await status())?.request_counts?.completed ?? 0) < 50) await new Promise((r) => setTimeout(r, 50));

    // Another process takes the write lock for longer than the 10 s busy timeout: checkpoints and transitions
    // fail with SQLITE_BUSY meanwhile and are retried (checkpoints at the next tick, activities by Temporal).
    const locker = new Sqlite(sqlitePath(stack.config));
    locker.exec('BEGIN EXCLUSIVE');
    await new Promise((r) => setTimeout(r, 12000));
    locker.exec('COMMIT');
    locker.close();

    const deadline = Date.now() + 120000;
    let batch = await status();
    while (batch?.status !== 'completed') {
      if (Date.now() > deadline || batch?.status === 'failed')
        throw new Error(`not completed: ${JSON.stringify(batch)}`);
      await new Promise((r) => setTimeout(r, 200));
      batch = await status();
    }
    expect(batch.request_counts).toEqual({ total: 400, completed: 400, failed: 0 });
    const output = await readResults(client, batch.output_file_id);
    expect(output.map((l) => l.custom_id).sort()).toEqual([...ids].sort());
  });
});
