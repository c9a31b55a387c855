import OpenAI from 'openai';
import { request, type IncomingMessage } from 'node:http';
import { spawnApi, type ApiProcess } from '../support/api-process';
import { createChatBatch, waitForStatus } from '../support/batch-helpers';
import { freePort } from '../support/free-port';
import { startStack, type Stack } from '../support/stack';
import { listFileBlobs } from '../support/test-blobs';
import { UpstreamSimulator } from '../support/upstream-simulator';
import { spawnWorker, type WorkerProcess } from '../support/worker-process';

const clientOf = (a: ApiProcess) => new OpenAI({ baseURL: a.baseURL, apiKey: 'test-key', maxRetries: 0 });

/** The JSON lines a process printed (other lines, such as start banners, are skipped). */
function jsonLines(output: string): Record<string, unknown>[] {
  return output
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('operations: structured logs and graceful API shutdown', () => {
  let sim: UpstreamSimulator;
  let stack: Stack;
  let worker: WorkerProcess | undefined;
  let api: ApiProcess | undefined;

  beforeAll(async () => {
    sim = await UpstreamSimulator.start();
    stack = await startStack(
      { UPSTREAM_BASE_URL: sim.baseUrl, CHUNK_SIZE: '10', CHECKPOINT_INTERVAL_MS: '100' },
      { worker: false },
    );
    worker = await spawnWorker(stack.config, { LOG_LEVEL: 'info' });
  });
  afterAll(async () => {
    await api?.kill('SIGKILL');
    await worker?.kill('SIGKILL');
    await stack.close();
    await sim.close();
  });

  it('every JSON log line about a batch carries its batch id, in the API and in the worker', async () => {
    api = await spawnApi(stack.config, await freePort(), { LOG_LEVEL: 'info' });
    const client = clientOf(api);
    const { batch } = await createChatBatch(client, 'log', 30);
    await waitForStatus(client, batch.id, ['completed']);
    await client.batches.retrieve(batch.id);
    // The batch shows completed once finalize has written the end status; its last log line follows, through a pipe.
    const finalized = (l: Record<string, unknown>) => l.batchId === batch.id && l.msg === 'finalized';
    const deadline = Date.now() + 10000;
    while (!jsonLines(worker!.output()).some(finalized) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }

    const apiLines = jsonLines(api.output());
    const workerLines = jsonLines(worker!.output());
    const about = [...apiLines, ...workerLines].filter((l) => JSON.stringify(l).includes(batch.id));
    for (const line of about) expect(line).toMatchObject({ batchId: batch.id });
    // The API's request lines for the batch, and the worker's milestones.
    expect(apiLines.filter((l) => l.batchId === batch.id && l.msg === 'request completed').length).toBeGreaterThan(0);
    const milestones = workerLines.filter((l) => l.batchId === batch.id).map((l) => l.msg);
    expect(milestones).toEqual(expect.arrayContaining(['validated', 'finalized']));
    // API keys never reach the logs.
    expect(api.output()).not.toContain('test-key');
  });

  it('SIGTERM: the API refuses new connections, finishes an upload in flight, and exits 0', async () => {
    await api?.kill('SIGKILL');
    api = await spawnApi(stack.config, await freePort());
    const before = await listFileBlobs(stack.config);

    const boundary = 'termboundary';
    const req = request(`${api.baseURL}/files`, {
      method: 'POST',
      headers: { authorization: 'Bearer test-key', 'content-type': `multipart/form-data; boundary=${boundary}` },
    });
    const answered = new Promise<{ status: number; body: string }>((resolve, reject) => {
      req.on('response', (res: IncomingMessage) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
    });
    const line = JSON.stringify({ custom_id: 'x', method: 'POST', url: '/v1/chat/completions', body: {} }) + '\n';
    const body = Buffer.from(line.repeat(Math.ceil((10 * 1024 * 1024) / line.length)));
    req.write(`--${boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n`);
    req.write(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.jsonl"\r\n\r\n`);
    req.write(body.subarray(0, 9 * 1024 * 1024));
    const deadline = Date.now() + 20000;
    while ((await listFileBlobs(stack.config)).length === before.length) {
      if (Date.now() > deadline) throw new Error('the upload never reached the blob store');
      await new Promise((r) => setTimeout(r, 20));
    }

    const exited = new Promise<number | null>((resolve) => api!.child.once('exit', (code) => resolve(code)));
    api.child.kill('SIGTERM');
    // New connections are refused once the listener closes...
    const refusedBy = Date.now() + 10000;
    for (;;) {
      const refused = await fetch(`${api.baseURL.replace('/v1', '')}/healthz`).then(
        () => false,
        () => true,
      );
      if (refused) break;
      if (Date.now() > refusedBy) throw new Error('the API still accepts connections after SIGTERM');
      await new Promise((r) => setTimeout(r, 20));
    }
    // ...while the upload already under way completes.
    req.end(Buffer.concat([body.subarray(9 * 1024 * 1024), Buffer.from(`\r\n--${boundary}--\r\n`)]));
    const { status, body: text } = await answered;
    expect(status).toBe(200);
    const file = JSON.parse(text) as { id: string; bytes: number };
    expect(file.bytes).toBe(body.length);
    expect(await exited).toBe(0);

    const stored = await stack.client().files.content(file.id);
    expect(Buffer.from(await stored.arrayBuffer()).equals(body)).toBe(true);
  });
  it('SIGTERM with a stalled upload: the API exits within its shutdown grace period', async () => {
    await api?.kill('SIGKILL');
    api = await spawnApi(stack.config, await freePort(), { API_SHUTDOWN_GRACE_MS: '1500' });
    const boundary = 'stallboundary';
    const req = request(`${api.baseURL}/files`, {
      method: 'POST',
      headers: { authorization: 'Bearer test-key', 'content-type': `multipart/form-data; boundary=${boundary}` },
    });
    req.on('error', () => undefined);
    req.write(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="stall.jsonl"\r\n\r\n{`);
    await new Promise((r) => setTimeout(r, 300));
    const exited = new Promise<number | null>((resolve) => api!.child.once('exit', (code) => resolve(code)));
    const started = Date.now();
    api.child.kill('SIGTERM');
    const code = await exited;
    expect(Date.now() - started).toBeLessThan(6000);
    expect(code).toBe(0);
    req.destroy();
    api = undefined;
  });
});
