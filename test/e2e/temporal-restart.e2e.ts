import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TemporalDevServer } from '../../src/temporal/dev-server';
import { ensureTemporalCli } from '../../src/temporal/temporal-cli';
import { createChatBatch, readResults, waitForStatus } from '../support/batch-helpers';
import { freePort } from '../support/free-port';
import { startStack, type Stack } from '../support/stack';
import { UpstreamSimulator } from '../support/upstream-simulator';

describe('the Temporal server killed and restarted on its database mid-batch', () => {
  let dir: string;
  let server: TemporalDevServer;
  let sim: UpstreamSimulator;
  let stack: Stack;
  let port: number;

  const startServer = async () =>
    TemporalDevServer.start({
      cliPath: ensureTemporalCli(),
      dbFile: join(dir, 'temporal.db'),
      port,
      uiPort: await freePort(),
      namespace: 'default',
      headless: true,
    });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'temporal-restart-'));
    port = await freePort();
    server = await startServer();
    sim = await UpstreamSimulator.start({ latencyMs: 40 });
    stack = await startStack({
      TEMPORAL_ADDRESS: server.address,
      UPSTREAM_BASE_URL: sim.baseUrl,
      UPSTREAM_CONCURRENCY: '4',
      CHUNK_SIZE: '50',
      CHECKPOINT_INTERVAL_MS: '200',
      CHUNK_HEARTBEAT_TIMEOUT_MS: '5000',
    });
  });
  afterAll(async () => {
    await stack?.close();
    await sim?.close();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('completes with every custom_id exactly once', async () => {
    const client = stack.client();
    const { ids, batch: created } = await createChatBatch(client, 's', 500, { counted: true });
    const deadline = Date.now() + 60000;
    while ((await client.batches.retrieve(created.id)).request_counts!.completed < 100) {
      if (Date.now() > deadline) throw new Error('no progress');
      await new Promise((r) => setTimeout(r, 50));
    }
    process.kill(server.pid!, 'SIGKILL');
    await server.stop(); // resolves once the killed process has exited
    await new Promise((r) => setTimeout(r, 2000)); // down for a while: heartbeats and completions fail meanwhile
    server = await startServer();

    const done = await waitForStatus(client, created.id, ['completed', 'failed'], 120000);
    expect(done.request_counts).toEqual({ total: 500, completed: 500, failed: 0 });
    const output = await readResults(client, done.output_file_id);
    expect(output.map((l) => l.custom_id).sort()).toEqual([...ids].sort());
    expect(await readResults(client, done.error_file_id)).toEqual([]);
  });
});
