import OpenAI, { toFile } from 'openai';
import { request } from 'node:http';
import { spawnApi, type ApiProcess } from '../support/api-process';
import { createChatBatch, waitForStatus } from '../support/batch-helpers';
import { expectConsistentEnd } from '../support/expectations';
import { freePort } from '../support/free-port';
import { startStack, type Stack } from '../support/stack';
import { listFileBlobs } from '../support/test-blobs';
import { UpstreamSimulator } from '../support/upstream-simulator';

const onS3 = process.env.TEST_BLOB_STORE === 's3';

describe('the API process killed with SIGKILL', () => {
  let sim: UpstreamSimulator;
  let stack: Stack;
  let api: ApiProcess | undefined;
  let port: number;

  beforeAll(async () => {
    sim = await UpstreamSimulator.start({ latencyMs: 20 });
    stack = await startStack({
      UPSTREAM_BASE_URL: sim.baseUrl,
      UPSTREAM_CONCURRENCY: '4',
      CHUNK_SIZE: '20',
      CHECKPOINT_INTERVAL_MS: '100',
    });
    port = await freePort();
  });
  afterAll(async () => {
    await api?.kill('SIGKILL');
    await stack.close();
    await sim.close();
  });

  const clientOf = (a: ApiProcess) => new OpenAI({ baseURL: a.baseURL, apiKey: 'test-key', maxRetries: 0 });

  it('during an upload: no file appears, no blob is left, and the restarted API serves', async () => {
    api = await spawnApi(stack.config, port);
    const before = (await stack.client().files.list()).data.length;
    const blobsBefore = await listFileBlobs(stack.config);

    // Stream an upload and kill the API once its blob write is under way (9 MB: past one S3 multipart part).
    const boundary = 'crashboundary';
    const req = request(`${api.baseURL}/files`, {
      method: 'POST',
      headers: { authorization: 'Bearer test-key', 'content-type': `multipart/form-data; boundary=${boundary}` },
    });
    req.on('error', () => undefined);
    req.write(`--${boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n`);
    req.write(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jsonl"\r\n\r\n`);
    req.write(Buffer.alloc(9 * 1024 * 1024, 'a'));
    const deadline = Date.now() + 20000;
    while (!(await listFileBlobs(stack.config)).some((k) => k.startsWith('tmp/'))) {
      if (Date.now() > deadline) throw new Error('the upload never reached the blob store');
      await new Promise((r) => setTimeout(r, 20));
    }
    await api.kill('SIGKILL');
    req.destroy();

    api = await spawnApi(stack.config, port);
    expect((await stack.client().files.list()).data.length).toBe(before);
    const after = await listFileBlobs(stack.config);
    expect(after.filter((k) => k.startsWith('files/'))).toEqual(blobsBefore.filter((k) => k.startsWith('files/')));
    // The restarted API swept the dead process's temp file. (On S3 the cut-off multipart upload is aborted by the
    // day-old sweep or the bucket's lifecycle rule; it never becomes an object.)
    if (!onS3) expect(after.filter((k) => k.startsWith('tmp/'))).toEqual([]);

    const client = clientOf(api);
    const ok = await client.files.create({ file: await toFile(Buffer.from('{}\n'), 'b.jsonl'), purpose: 'batch' });
    expect(ok.bytes).toBe(3);
  });

  it('during a batch: the batch goes on, and the restarted API reports it completed with every line once', async () => {
    api ??= await spawnApi(stack.config, port);
    const { ids, batch } = await createChatBatch(clientOf(api), 'a', 400);
    await waitForStatus(clientOf(api), batch.id, ['in_progress'], 30000);
    await api.kill('SIGKILL');
    // The worker keeps going while no API runs.
    const deadline = Date.now() + 30000;
    while ((await stack.storage.batches.getById(batch.id))!.status === 'in_progress' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    api = await spawnApi(stack.config, port);
    const done = await waitForStatus(clientOf(api), batch.id, ['completed', 'failed'], 60000);
    expect(done.status).toBe('completed');
    await expectConsistentEnd(clientOf(api), done, ids);
  });
});
