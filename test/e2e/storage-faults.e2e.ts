import { Client, Connection } from '@temporalio/client';
import { APIError, toFile } from 'openai';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { chatLine, uploadLines, waitForStatus } from '../support/batch-helpers';
import { expectConsistentEnd } from '../support/expectations';
import { SmallDisk } from '../support/small-disk';
import { startStack, type Stack } from '../support/stack';
import { listFileBlobs } from '../support/test-blobs';
import { UpstreamSimulator } from '../support/upstream-simulator';
import { spawnWorker, type WorkerProcess } from '../support/worker-process';

const MiB = 1024 * 1024;

// These faults are faults of a local filesystem (a full or read-only disk under DATA_DIR/blobs), made with a small
// tmpfs; they need a machine that lets the test mount one, and the filesystem blob store.
const runnable = process.env.TEST_BLOB_STORE !== 's3' && SmallDisk.available();

(runnable ? describe : describe.skip)('blob storage full or unwritable', () => {
  let sim: UpstreamSimulator;
  let stack: Stack;
  let disk: SmallDisk;
  let worker: WorkerProcess | undefined;
  let temporal: Client;

  beforeAll(async () => {
    sim = await UpstreamSimulator.start();
    stack = await startStack(
      {
        UPSTREAM_BASE_URL: sim.baseUrl,
        CHUNK_SIZE: '25',
        CHECKPOINT_INTERVAL_MS: '100',
        CHUNK_HEARTBEAT_TIMEOUT_MS: '3000',
      },
      { worker: false },
    );
    disk = SmallDisk.mount(join(stack.config.DATA_DIR, 'blobs'), MiB);
    temporal = new Client({ connection: await Connection.connect({ address: stack.config.TEMPORAL_ADDRESS! }) });
  });
  afterAll(async () => {
    await worker?.kill('SIGKILL');
    await temporal?.connection.close();
    disk?.unmount();
    await stack?.close();
    await sim?.close();
  });

  const fileCount = async () => (await stack.client().files.list()).data.length;

  /** The pending activity of this type once it has failed at least twice with `message`. */
  async function failingActivity(batchId: string, type: string, message: string) {
    const deadline = Date.now() + 30000;
    for (;;) {
      const { raw } = await temporal.workflow.getHandle(batchId).describe();
      const pending = raw.pendingActivities?.find((a) => a.activityType?.name === type);
      if (pending && (pending.attempt ?? 0) >= 2 && pending.lastFailure?.message?.includes(message)) return pending;
      if (Date.now() > deadline) throw new Error(`${type} never failed with ${message}: ${JSON.stringify(pending)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it('refuses an upload on a full disk with 507 storage_full; nothing is kept and the service keeps serving', async () => {
    const client = stack.client();
    const before = await fileCount();
    const big = Buffer.alloc(2 * MiB, '{"custom_id":"x"}\n');
    const err = await client.files
      .create({ file: await toFile(big, 'big.jsonl'), purpose: 'batch' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(APIError);
    expect(err).toMatchObject({ status: 507, type: 'server_error', code: 'storage_full' });
    expect((err as APIError).message).toMatch(/storage is full/);
    expect((err as APIError).headers?.get('x-should-retry')).toBe('false');
    expect(await fileCount()).toBe(before);
    expect(await listFileBlobs(stack.config)).toEqual([]);
    // A small file still fits.
    const small = await client.files.create({ file: await toFile(Buffer.from('{}\n'), 'a.jsonl'), purpose: 'batch' });
    expect(small.bytes).toBe(3);
  });

  it('refuses an upload on a read-only disk with 503 storage_unavailable, then serves again once it is writable', async () => {
    const client = stack.client();
    const before = await fileCount();
    disk.remountReadOnly(true);
    try {
      const err = await client.files
        .create({ file: await toFile(Buffer.from('{}\n'), 'a.jsonl'), purpose: 'batch' })
        .catch((e: unknown) => e);
      expect(err).toMatchObject({ status: 503, type: 'server_error', code: 'storage_unavailable' });
      expect((err as APIError).message).toMatch(/not writable \(EROFS\)/);
      expect(await fileCount()).toBe(before);
      // Readiness says so too, so a load balancer can route uploads elsewhere.
      const ready = await fetch(stack.baseURL.replace('/v1', '/readyz'));
      expect(ready.status).toBe(503);
      expect(((await ready.json()) as { error: { message: string } }).error.message).toBe(
        'Not ready: store ok, blobs unavailable, temporal ok.',
      );
    } finally {
      disk.remountReadOnly(false);
    }
    expect((await fetch(stack.baseURL.replace('/v1', '/readyz'))).status).toBe(200);
    await expect(
      client.files.create({ file: await toFile(Buffer.from('{}\n'), 'b.jsonl'), purpose: 'batch' }),
    ).resolves.toMatchObject({ bytes: 3 });
  });

  it('a worker killed while validation waits for disk space: the batch resumes and completes', async () => {
    const client = stack.client();
    const ids = Array.from({ length: 100 }, (_, i) => `v-${i}`);
    const inputFileId = await uploadLines(
      client,
      ids.map((id) => chatLine(id)),
    );
    const filler = disk.fill();
    const batch = await client.batches.create({
      input_file_id: inputFileId,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    worker = await spawnWorker(stack.config);
    // Validation cannot write its chunk index: it fails and is retried, and the batch waits in validating.
    await failingActivity(batch.id, 'validateInput', 'ENOSPC');
    expect((await client.batches.retrieve(batch.id)).status).toBe('validating');
    await worker.kill('SIGKILL');
    rmSync(filler);
    worker = await spawnWorker(stack.config);
    const done = await waitForStatus(client, batch.id, ['completed', 'failed'], 60000);
    expect(done.status).toBe('completed');
    await expectConsistentEnd(client, done, ids);
  });

  it('a worker killed while finalize waits for disk space: no half file is shown, and the batch completes once', async () => {
    const client = stack.client();
    const content = 'x'.repeat(5000);
    const ids = Array.from({ length: 100 }, (_, i) => `f-${i}`);
    const inputFileId = await uploadLines(
      client,
      ids.map((id) => chatLine(id, { messages: [{ role: 'user', content }] })),
    );
    // Room for the chunks' part files (about one response per line) but not for the output file as well.
    const used = diskUsed(disk);
    const parts = ids.length * (content.length + 400);
    disk.resize(used + Math.round(parts * 1.5));
    const batch = await client.batches.create({
      input_file_id: inputFileId,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    await worker?.kill('SIGKILL');
    worker = await spawnWorker(stack.config);
    await failingActivity(batch.id, 'finalize', 'ENOSPC');
    const stuck = await client.batches.retrieve(batch.id);
    expect(stuck.status).toBe('finalizing');
    expect(stuck.output_file_id).toBeNull();
    const outputs = await client.files.list({ purpose: 'batch_output' });
    expect(outputs.data.filter((f) => f.filename.startsWith(batch.id))).toEqual([]);

    await worker.kill('SIGKILL');
    disk.resize(64 * MiB);
    worker = await spawnWorker(stack.config);
    const done = await waitForStatus(client, batch.id, ['completed', 'failed'], 60000);
    expect(done.status).toBe('completed');
    const { output } = await expectConsistentEnd(client, done, ids);
    expect(output.every((l) => l.response?.status_code === 200)).toBe(true);
    // The killed attempt's temp file was swept by the next worker: only finished files remain.
    expect((await listFileBlobs(stack.config)).filter((k) => k.startsWith('tmp/'))).toEqual([]);
  });
});

function diskUsed(disk: SmallDisk): number {
  return disk.size() - disk.free();
}
