import Sqlite from 'better-sqlite3';
import { Client as PgClient } from 'pg';
import { sqlitePath } from '../../src/storage/database';
import { createChatBatch } from '../support/batch-helpers';
import { expectConsistentEnd } from '../support/expectations';
import { simulatedStack } from '../support/simulated-stack';
import type { Stack } from '../support/stack';

describe('the metadata store locked by another process mid-batch', () => {
  const t = simulatedStack(
    { latencyMs: 20 },
    {
      UPSTREAM_CONCURRENCY: '4',
      CHUNK_SIZE: '40',
      CHECKPOINT_INTERVAL_MS: '200',
    },
  );

  it('rides out a write lock held longer than the busy timeout: the batch completes exactly once', async () => {
    const client = t.stack.client();
    const { ids, batch: created } = await createChatBatch(client, 'l', 400, { counted: true });
    const status = async () => client.batches.retrieve(created.id).catch(() => undefined);
    while (((await status())?.request_counts?.completed ?? 0) < 50) await new Promise((r) => setTimeout(r, 50));

    // Another client takes the store's write lock for longer than SQLite's 10 s busy timeout (on PostgreSQL: an
    // exclusive lock on the tables, which makes every query wait): checkpoints and transitions fail or wait
    // meanwhile and are retried (checkpoints at the next tick, activities by Temporal).
    await holdStoreLock(t.stack, 12000);

    // Activities that failed during the lock wait out Temporal's backoff (up to 30 s for a chunk, a minute for the
    // others) before they run again, several times over on a loaded machine: the wait is long, and ends before the
    // test's own timeout so that a batch that never ends says where it stopped.
    const deadline = Date.now() + 240000;
    let batch = await status();
    while (batch?.status !== 'completed') {
      if (Date.now() > deadline || batch?.status === 'failed')
        throw new Error(`not completed: ${JSON.stringify(batch)}`);
      await new Promise((r) => setTimeout(r, 200));
      batch = await status();
    }
    expect(batch.request_counts).toEqual({ total: 400, completed: 400, failed: 0 });
    await expectConsistentEnd(client, batch, ids);
  }, 300000);
});

async function holdStoreLock(stack: Stack, ms: number): Promise<void> {
  const url = stack.config.DATABASE_URL;
  if (url && /^postgres(ql)?:/.test(url)) {
    const pg = new PgClient({ connectionString: url });
    await pg.connect();
    await pg.query('BEGIN');
    await pg.query('LOCK TABLE batches, chunk_progress IN ACCESS EXCLUSIVE MODE');
    await new Promise((r) => setTimeout(r, ms));
    await pg.query('COMMIT');
    await pg.end();
    return;
  }
  const locker = new Sqlite(sqlitePath(stack.config));
  locker.exec('BEGIN EXCLUSIVE');
  await new Promise((r) => setTimeout(r, ms));
  locker.exec('COMMIT');
  locker.close();
}
