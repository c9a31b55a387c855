import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { Connection } from '@temporalio/client';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import type { Batch } from 'openai/resources/batches';
import { loadConfig, type AppConfig } from '../../src/config/config';
import { namespaceSettings, prepareNamespace } from '../../src/temporal/prepare-namespace';
import { ensureTemporalCli } from '../../src/temporal/temporal-cli';
import { spawnApi, type ApiProcess } from '../support/api-process';
import { createChatBatch, waitForStatus } from '../support/batch-helpers';
import { expectConsistentEnd } from '../support/expectations';
import { freePort } from '../support/free-port';
import { S3RVER_CREDENTIALS, startS3TestServer, type S3TestServer } from '../support/s3-test-server';
import { startStack, type Stack } from '../support/stack';
import { startTestCluster, type TestCluster } from '../support/temporal-cluster';
import { createTestDatabase, dropTestDatabase } from '../support/test-database';
import { UpstreamSimulator } from '../support/upstream-simulator';
import { spawnWorker, type WorkerProcess } from '../support/worker-process';

const FINAL = ['completed', 'failed', 'expired', 'cancelled'];
const KEY = 'topology-key';

/** Polls a read that may fail while a process restarts; gives up after `timeoutMs`. */
async function eventually<T>(read: () => Promise<T>, timeoutMs = 60000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await read();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/**
 * The production shape, on this machine: a real Temporal server (v1.29.1, built from the Go module registry) on
 * PostgreSQL with SQL visibility, two API and two worker processes with their own DATA_DIRs, one PostgreSQL metadata
 * database and one S3 bucket. Processes are killed while batches run; every batch still ends, every line once.
 */
describe('topology: a real Temporal cluster, two APIs, two workers', () => {
  let cluster: TestCluster;
  let s3: S3TestServer;
  let sim: UpstreamSimulator;
  let databaseUrl: string;
  const dirs: string[] = [];
  let config: (dataDir: string) => AppConfig;
  const apis: ApiProcess[] = [];
  const workers: WorkerProcess[] = [];
  // The S3 credentials come from the standard AWS variables, not from the service's configuration.
  const aws = {
    AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
  };
  const worker = (dir: string) => spawnWorker(config(dir), aws);
  const api = (dir: string, port: number) => spawnApi(config(dir), port, aws);

  beforeAll(async () => {
    cluster = await startTestCluster(1);
    s3 = await startS3TestServer();
    const bucket = `topology-${Math.random().toString(36).slice(2, 10)}`;
    const s3client = new S3Client({
      endpoint: s3.endpoint,
      forcePathStyle: true,
      region: 'us-east-1',
      credentials: S3RVER_CREDENTIALS,
    });
    await s3client.send(new CreateBucketCommand({ Bucket: bucket }));
    s3client.destroy();
    databaseUrl = await createTestDatabase();
    sim = await UpstreamSimulator.start({ latencyMs: 200 });
    const taskQueue = `topology-${Math.random().toString(36).slice(2, 8)}`;
    config = (dataDir) =>
      loadConfig({
        DATA_DIR: dataDir,
        TEMPORAL_ADDRESS: cluster.address,
        TEMPORAL_TASK_QUEUE: taskQueue,
        DATABASE_URL: databaseUrl,
        BLOB_URL: `s3://${bucket}/blobs`,
        S3_ENDPOINT: s3.endpoint,
        S3_FORCE_PATH_STYLE: 'true',
        UPSTREAM_BASE_URL: sim.baseUrl,
        UPSTREAM_CONCURRENCY: '8',
        CHUNK_SIZE: '25',
        CHECKPOINT_INTERVAL_MS: '200',
        CHUNK_HEARTBEAT_TIMEOUT_MS: '5000',
        API_KEYS: `${KEY}:team-a`,
        API_RATE_LIMIT_PER_MINUTE: '100000',
      });
    const dataDir = () => {
      const dir = mkdtempSync(join(tmpdir(), 'topology-'));
      dirs.push(dir);
      return dir;
    };
    // The first process finds a fresh cluster: no namespace, no search attributes; it makes both.
    workers.push(await worker(dataDir()));
    workers.push(await worker(dataDir()));
    for (let i = 0; i < 2; i++) apis.push(await api(dataDir(), await freePort()));
  }, 300_000);

  afterAll(async () => {
    for (const p of [...apis, ...workers]) await p.kill('SIGKILL');
    await sim?.close();
    await s3?.stop();
    await cluster?.close();
    await dropTestDatabase(databaseUrl);
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  const client = (p: ApiProcess) => new OpenAI({ baseURL: p.baseURL, apiKey: KEY, maxRetries: 0 });

  it('every batch ends with every line once while a worker, an API and the Temporal server are killed', async () => {
    const created: { ids: string[]; batch: Batch }[] = [];
    for (let i = 0; i < 6; i++) created.push(await createChatBatch(client(apis[i % 2]), `topo${i}`, 150));
    // Each batch reads the same through the other API.
    for (let i = 0; i < 6; i++) {
      const other = await client(apis[(i + 1) % 2]).batches.retrieve(created[i].batch.id);
      expect(other).toMatchObject({ id: created[i].batch.id, input_file_id: created[i].batch.input_file_id });
    }
    // The first process to start found a fresh cluster and registered the namespace (a real server has none).
    expect(workers.map((w) => w.output()).join('')).toContain("registered Temporal namespace 'default'");
    const log: string[] = [];
    const progress = async () => {
      const all = await Promise.all(created.map((c) => client(apis[1]).batches.retrieve(c.batch.id)));
      return all.reduce((n, b) => n + (b.request_counts?.completed ?? 0), 0);
    };
    await eventually(async () => {
      if ((await progress()) < 100) throw new Error('not yet');
    });

    // A worker dies at once: its chunks come back on the other worker after their heartbeat timeout.
    await workers[0].kill('SIGKILL');
    log.push(`worker 1 SIGKILLed at ${await progress()} of 900 done`);
    workers[0] = await worker(dirs[0]);

    // An API dies at once and comes back on its port.
    const port = Number(new URL(apis[0].baseURL).port);
    await apis[0].kill('SIGKILL');
    log.push(`API 1 SIGKILLed at ${await progress()} of 900 done`);
    apis[0] = await api(dirs[2], port);

    // The Temporal server dies at once and is started again on its database.
    const node = cluster.nodes[0];
    await node.stop('SIGKILL');
    log.push(`Temporal server SIGKILLed at ${await progress()} of 900 done`);
    const restarted = Date.now();
    await node.start();
    log.push(`Temporal server answering again after ${((Date.now() - restarted) / 1000).toFixed(1)} s`);

    for (const [i, c] of created.entries()) {
      const reader = client(apis[i % 2]);
      const done = await eventually(() => waitForStatus(reader, c.batch.id, FINAL, 120_000), 180_000);
      expect(done.status).toBe('completed');
      await expectConsistentEnd(reader, done, c.ids);
    }
    log.push(`all 6 batches completed, every line once`);

    // SQL visibility answers the Web UI's filters: the batch search attributes are registered and kept current.
    const listed = await eventually(async () => {
      const out = execFileSync(ensureTemporalCli(), [
        'workflow',
        'list',
        '--address',
        cluster.address,
        '--query',
        'BatchStatus="completed" AND BatchOwner="team-a"',
        '--output',
        'json',
      ]).toString();
      const ids = (JSON.parse(out) as { execution: { workflowId: string } }[]).map((w) => w.execution.workflowId);
      if (!created.every((c) => ids.includes(c.batch.id))) throw new Error(`listed ${ids.length}`);
      return ids;
    });
    expect(listed).toEqual(expect.arrayContaining(created.map((c) => c.batch.id)));
    console.log(`topology (server start ${cluster.startSeconds.toFixed(1)} s):\n${log.join('\n')}`);
  }, 400_000);
});

/** Two server nodes on one PostgreSQL: one is killed mid-batch, and its shards move to the other. */
describe('topology: two Temporal nodes', () => {
  let cluster: TestCluster;
  let sim: UpstreamSimulator;
  let stack: Stack;

  beforeAll(async () => {
    cluster = await startTestCluster(2);
    const connection = await Connection.connect({ address: cluster.nodes[1].address });
    await prepareNamespace(connection, namespaceSettings(loadConfig({})));
    await connection.close();
    sim = await UpstreamSimulator.start({ latencyMs: 100 });
    // Clients talk to the second node (a load balancer would pick a live one); the first is the one that dies.
    stack = await startStack({
      TEMPORAL_ADDRESS: cluster.nodes[1].address,
      UPSTREAM_BASE_URL: sim.baseUrl,
      UPSTREAM_CONCURRENCY: '4',
      CHUNK_SIZE: '20',
      CHECKPOINT_INTERVAL_MS: '200',
      CHUNK_HEARTBEAT_TIMEOUT_MS: '5000',
    });
  }, 300_000);

  afterAll(async () => {
    await stack?.close();
    await sim?.close();
    await cluster?.close();
  });

  it('batches continue on the surviving node when the other is SIGKILLed', async () => {
    const client = stack.client();
    const batches = await Promise.all([0, 1, 2].map((i) => createChatBatch(client, `node${i}`, 120)));
    await eventually(async () => {
      const b = await client.batches.retrieve(batches[0].batch.id);
      if ((b.request_counts?.completed ?? 0) < 20) throw new Error('not yet');
    });
    const killedAt = Date.now();
    await cluster.nodes[0].stop('SIGKILL');
    for (const { ids, batch } of batches) {
      const done = await waitForStatus(client, batch.id, FINAL, 180_000);
      expect(done.status).toBe('completed');
      await expectConsistentEnd(client, done, ids);
    }
    console.log(
      `two nodes: node 1 SIGKILLed; every batch completed ${((Date.now() - killedAt) / 1000).toFixed(1)} s later`,
    );
  }, 400_000);
});
