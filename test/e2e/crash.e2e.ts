import { createChatBatch, readResults, waitForStatus } from '../support/batch-helpers';
import { startStack, type Stack } from '../support/stack';
import { UpstreamSimulator } from '../support/upstream-simulator';
import { waitUntil } from '../support/wait';
import { spawnWorker, type WorkerProcess } from '../support/worker-process';

const CONCURRENCY = 8;
const LATENCY_MS = 40;
const CHECKPOINT_MS = 200;

describe('a worker killed with SIGKILL mid-batch', () => {
  let sim: UpstreamSimulator;
  let stack: Stack;
  let worker: WorkerProcess | undefined;

  beforeAll(async () => {
    sim = await UpstreamSimulator.start({ latencyMs: LATENCY_MS });
    stack = await startStack(
      {
        UPSTREAM_BASE_URL: sim.baseUrl,
        UPSTREAM_CONCURRENCY: String(CONCURRENCY),
        CHUNK_SIZE: '60',
        CHUNK_WINDOW: '4',
        CHECKPOINT_INTERVAL_MS: String(CHECKPOINT_MS),
        CHUNK_HEARTBEAT_TIMEOUT_MS: '3000',
      },
      { worker: false },
    );
  });
  afterAll(async () => {
    await worker?.kill('SIGKILL');
    await stack.close();
    await sim.close();
  });

  it('resumes from checkpoints twice: every custom_id exactly once, re-sends bounded', async () => {
    const client = stack.client();
    const { ids, batch: created } = await createChatBatch(client, 'k', 900, { counted: true });
    worker = await spawnWorker(stack.config);
    for (const threshold of [150, 450]) {
      await waitForStatus(client, created.id, ['in_progress'], 30000, undefined);
      await waitUntil(async () => (await client.batches.retrieve(created.id)).request_counts!.completed >= threshold);
      await worker.kill('SIGKILL');
      worker = await spawnWorker(stack.config);
    }
    const done = await waitForStatus(client, created.id, ['completed', 'failed'], 120000);
    expect(done.status).toBe('completed');
    expect(done.request_counts).toEqual({ total: 900, completed: 900, failed: 0 });

    const output = await readResults(client, done.output_file_id);
    expect(await readResults(client, done.error_file_id)).toEqual([]);
    expect(output.map((l) => l.custom_id).sort()).toEqual([...ids].sort());
    expect(new Set(output.map((l) => l.id)).size).toBe(900);

    // Re-sends: requests the dead worker had in flight, plus those answered since its last checkpoint.
    const rate = CONCURRENCY / (LATENCY_MS / 1000);
    const perKill = CONCURRENCY + Math.ceil((rate * (2 * CHECKPOINT_MS)) / 1000);
    const resent = ids.reduce((n, id) => n + sim.calls(id) - 1, 0);
    expect(ids.every((id) => sim.calls(id) >= 1)).toBe(true);
    expect(resent).toBeLessThanOrEqual(2 * perKill);
    console.log(`crash test: ${resent} re-sends over 2 kills (bound ${2 * perKill})`);
  });

  it('stops gracefully on SIGTERM mid-batch and a new worker finishes it: nothing lost or repeated', async () => {
    const client = stack.client();
    sim.reset();
    const { ids, batch: created } = await createChatBatch(client, 't', 2400, { counted: true });
    await worker?.kill('SIGKILL');
    worker = await spawnWorker(stack.config);
    await waitUntil(async () => (await client.batches.retrieve(created.id)).request_counts!.completed >= 100);
    const exited = new Promise<number | null>((resolve) => worker!.child.once('exit', (code) => resolve(code)));
    worker.child.kill('SIGTERM');
    expect(await exited).toBe(0);
    // The shutdown grace (10 s) ends before the batch does: the new worker has real work left to resume.
    expect((await client.batches.retrieve(created.id)).request_counts!.completed).toBeLessThan(2400);
    worker = await spawnWorker(stack.config);
    const done = await waitForStatus(client, created.id, ['completed', 'failed'], 120000);
    expect(done.request_counts).toEqual({ total: 2400, completed: 2400, failed: 0 });
    const output = await readResults(client, done.output_file_id);
    expect(output.map((l) => l.custom_id).sort()).toEqual([...ids].sort());
    // A graceful stop commits what finished; only requests aborted in flight are sent again.
    const resent = ids.reduce((n, id) => n + sim.calls(id) - 1, 0);
    expect(resent).toBeLessThanOrEqual(CONCURRENCY);
    console.log(`SIGTERM test: ${resent} re-sends (bound ${CONCURRENCY})`);
  });
});
