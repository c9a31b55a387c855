import { Client, Connection } from '@temporalio/client';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { createChatBatch, readResults, waitForStatus } from '../support/batch-helpers';
import { freePort } from '../support/free-port';
import { startStack, type Stack } from '../support/stack';
import { UpstreamSimulator } from '../support/upstream-simulator';
import { waitUntil } from '../support/wait';
import { descendants } from '../support/proc';
import { envFor, spawnEntry, spawnWorker, type WorkerProcess } from '../support/worker-process';

const CONCURRENCY = 6;

/** The pids the supervisor's processes printed when ready, in order. */
const childPids = (output: string): number[] =>
  [...output.matchAll(/worker process \d+ of \d+ \(pid (\d+)\) ready/g)].map((m) => Number(m[1]));

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('WORKER_PROCESSES=2: one supervisor, two worker processes', () => {
  let sim: UpstreamSimulator;
  let stack: Stack;
  let worker: WorkerProcess;
  let metricsPort: number;
  let connection: Connection;

  beforeAll(async () => {
    sim = await UpstreamSimulator.start({ latencyMs: 30 });
    stack = await startStack(
      {
        UPSTREAM_BASE_URL: sim.baseUrl,
        UPSTREAM_CONCURRENCY: String(CONCURRENCY),
        CHUNK_SIZE: '40',
        CHUNK_WINDOW: '6',
        CHECKPOINT_INTERVAL_MS: '200',
        CHUNK_HEARTBEAT_TIMEOUT_MS: '3000',
      },
      { worker: false },
    );
    metricsPort = await freePort();
    worker = await spawnWorker(stack.config, { WORKER_PROCESSES: '2', WORKER_METRICS_PORT: String(metricsPort) });
    connection = await Connection.connect({ address: stack.config.TEMPORAL_ADDRESS! });
  });
  afterAll(async () => {
    await connection?.close();
    await worker?.kill('SIGKILL');
    for (const pid of childPids(worker?.output() ?? '')) if (alive(pid)) process.kill(pid, 'SIGKILL');
    await stack.close();
    await sim.close();
  });

  it('runs a batch on both processes, keeps to the concurrency cap together, and sums their metrics', async () => {
    expect(childPids(worker.output())).toHaveLength(2);
    const client = stack.client();
    const { ids, batch } = await createChatBatch(client, 'p', 480);
    const done = await waitForStatus(client, batch.id, ['completed', 'failed'], 60000);
    expect(done.request_counts).toEqual({ total: 480, completed: 480, failed: 0 });
    const output = await readResults(client, done.output_file_id);
    expect(output.map((l) => l.custom_id).sort()).toEqual([...ids].sort());
    // The processes share the cap; together they never exceed it.
    expect(sim.peakInFlight).toBeLessThanOrEqual(CONCURRENCY);

    // Both processes ran chunks: their worker identities (pid@host) appear on the chunk activities.
    const history = await new Client({ connection }).workflow.getHandle(batch.id).fetchHistory();
    const chunkEvents = new Set(
      history
        .events!.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'processChunk')
        .map((e) => String(e.eventId)),
    );
    const identities = new Set(
      history
        .events!.filter((e) => chunkEvents.has(String(e.activityTaskStartedEventAttributes?.scheduledEventId)))
        .map((e) => e.activityTaskStartedEventAttributes!.identity),
    );
    expect([...identities].map((id) => Number(id!.split('@')[0])).sort()).toEqual(childPids(worker.output()).sort());

    // The supervisor serves the sum of both processes' metrics.
    const res = await request(`http://127.0.0.1:${metricsPort}/metrics`);
    const text = await res.body.text();
    const succeeded = /^batch_upstream_requests_total\{[^}]*result="succeeded"[^}]*\} (\d+)/m.exec(text);
    expect(Number(succeeded?.[1])).toBe(480);
  });

  it('moves the whole concurrency to the one process that has work', async () => {
    const client = stack.client();
    sim.latencyMs = 150;
    sim.reset();
    try {
      // One chunk (CHUNK_SIZE 40), so one process runs it all: split for good, it would have half the cap.
      const { batch } = await createChatBatch(client, 'one', 40);
      const done = await waitForStatus(client, batch.id, ['completed', 'failed'], 60000);
      expect(done.request_counts).toEqual({ total: 40, completed: 40, failed: 0 });
      expect(sim.peakInFlight).toBe(CONCURRENCY);
    } finally {
      sim.latencyMs = 30;
    }
  });

  it('restarts a worker process killed with SIGKILL; the batch completes with every line once', async () => {
    const client = stack.client();
    const [victim, survivor] = childPids(worker.output());
    const { ids, batch } = await createChatBatch(client, 'k', 600);
    await waitUntil(async () => (await client.batches.retrieve(batch.id)).request_counts!.completed >= 100);
    process.kill(victim, 'SIGKILL');
    await waitUntil(() => childPids(worker.output()).length === 3);
    expect(worker.output()).toMatch(
      new RegExp(`worker process [12] of 2 \\(pid ${victim}\\) exited \\(SIGKILL\\); restarting in 1000 ms`),
    );
    const done = await waitForStatus(client, batch.id, ['completed', 'failed'], 90000);
    expect(done.request_counts).toEqual({ total: 600, completed: 600, failed: 0 });
    const output = await readResults(client, done.output_file_id);
    expect(output.map((l) => l.custom_id).sort()).toEqual([...ids].sort());
    expect(await readResults(client, done.error_file_id)).toEqual([]);
    expect(alive(survivor)).toBe(true);
  });

  it('stops every process gracefully on SIGTERM to the supervisor', async () => {
    const pids = childPids(worker.output()).filter(alive);
    expect(pids).toHaveLength(2);
    const exited = new Promise<number | null>((resolve) => worker.child.once('exit', (code) => resolve(code)));
    worker.child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(pids.filter(alive)).toEqual([]);
    expect(worker.output()).toMatch(/SIGTERM: shutting down 2 worker processes/);
  });
});

describe('the WORKER_PROCESSES supervisor stopping early', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({ UPSTREAM_CONCURRENCY: '4' }, { worker: false });
  });
  afterAll(() => stack.close());

  /** Processes started with this task queue in their environment (the supervisor's, and any it forked). */
  function withTaskQueue(queue: string): number[] {
    const found: number[] = [];
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        if (readFileSync(`/proc/${entry}/environ`, 'latin1').split('\0').includes(`TEMPORAL_TASK_QUEUE=${queue}`)) {
          found.push(Number(entry));
        }
      } catch {
        // Gone meanwhile, or not ours to read.
      }
    }
    return found;
  }

  /** Starts the supervisor without waiting for it; records the pids of its children while it runs. */
  async function startSupervisor(env: Record<string, string>) {
    const { child, output } = await spawnEntry(
      'start-worker',
      {
        ...envFor(stack.config),
        LOG_LEVEL: 'warn',
        WORKER_PROCESSES: '2',
        ...env,
      },
      null,
    );
    const children = new Set<number>();
    const watch = setInterval(() => descendants(child.pid!).forEach((pid) => children.add(pid)), 20);
    const exited = new Promise<number | null>((resolve) =>
      child.once('exit', (code) => {
        clearInterval(watch);
        resolve(code);
      }),
    );
    return { child, exited, children, output };
  }

  it('a SIGTERM while the processes are still starting stops them all, gracefully', async () => {
    const sup = await startSupervisor({});
    await waitUntil(() => sup.children.size === 2, 20000);
    expect(withTaskQueue(stack.config.TEMPORAL_TASK_QUEUE).sort()).toEqual([sup.child.pid, ...sup.children].sort());
    sup.child.kill('SIGTERM');
    expect(await sup.exited).toBe(0);
    expect(sup.output()).toMatch(/SIGTERM: shutting down 2 worker processes/);
    expect(sup.output()).not.toMatch(/killing them/);
    await waitUntil(() => [...sup.children].every((pid) => !alive(pid)), 5000);
    expect(withTaskQueue(stack.config.TEMPORAL_TASK_QUEUE)).toEqual([]);
  });

  it('a start that fails (the metrics port is taken) stops the processes already forked and exits 1', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    try {
      const port = (blocker.address() as AddressInfo).port;
      const sup = await startSupervisor({ WORKER_METRICS_PORT: String(port) });
      expect(await sup.exited).toBe(1);
      expect(sup.output()).toMatch(/EADDRINUSE/);
      // Whether or not its processes got far enough to be seen, none is left.
      await waitUntil(() => withTaskQueue(stack.config.TEMPORAL_TASK_QUEUE).length === 0, 5000);
    } finally {
      blocker.close();
    }
  });
});
