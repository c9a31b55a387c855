import { Connection } from '@temporalio/client';
import OpenAI, { toFile } from 'openai';
import { BATCH_SEARCH_ATTRIBUTES } from '../../src/temporal/prepare-namespace';
import { startStack, type Stack } from '../support/stack';
import { listFileBlobs } from '../support/test-blobs';

const LIMIT = 64 * 1024;

/** Files and temp uploads left in the blob store. */
const blobFiles = (stack: Stack): Promise<string[]> => listFileBlobs(stack.config);

/** Polls `check` until it holds; throws after `timeoutMs`. */
async function waitFor(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function fileRowCount(stack: Stack): Promise<number> {
  const r = await stack.storage.db.kysely
    .selectFrom('files')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

const jsonl = (n: number) =>
  Array.from({ length: n }, (_, i) =>
    JSON.stringify({
      custom_id: `r${i}`,
      method: 'POST',
      url: '/v1/chat/completions',
      body: { model: 'm', messages: [] },
    }),
  ).join('\n') + '\n';

describe('Files API through the official client', () => {
  let stack: Stack;
  let client: OpenAI;

  beforeAll(async () => {
    stack = await startStack({ MAX_UPLOAD_BYTES: String(LIMIT) });
    client = stack.client();
  });
  afterAll(() => stack.close());

  it('uploads, retrieves, downloads byte-identical, and deletes', async () => {
    const content = jsonl(20);
    const file = await client.files.create({
      file: await toFile(Buffer.from(content), 'input.jsonl'),
      purpose: 'batch',
    });
    expect(file).toEqual({
      id: expect.stringMatching(/^file-[A-Za-z0-9_-]{24,}$/),
      object: 'file',
      bytes: Buffer.byteLength(content),
      created_at: expect.any(Number),
      expires_at: file.created_at + 2592000,
      filename: 'input.jsonl',
      purpose: 'batch',
      status: 'processed',
      status_details: null,
    });
    expect(Math.abs(file.created_at - Date.now() / 1000)).toBeLessThan(5);

    expect(await client.files.retrieve(file.id)).toEqual(file);
    const downloaded = Buffer.from(await (await client.files.content(file.id)).arrayBuffer());
    expect(downloaded.equals(Buffer.from(content))).toBe(true);

    expect(await client.files.delete(file.id)).toEqual({ id: file.id, object: 'file', deleted: true });
    await expect(client.files.retrieve(file.id)).rejects.toMatchObject({ status: 404 });
    await expect(client.files.content(file.id)).rejects.toMatchObject({ status: 404 });
    expect(await blobFiles(stack)).not.toContain(`files/${file.id}`);
  });

  it('honours expires_after', async () => {
    const file = await client.files.create({
      file: await toFile(Buffer.from(jsonl(1)), 'e.jsonl'),
      purpose: 'batch',
      expires_after: { anchor: 'created_at', seconds: 3600 },
    });
    expect(file.expires_at).toBe(file.created_at + 3600);
  });

  it('lists newest first and paginates with after/has_more and auto-pagination', async () => {
    const own = await startStack();
    try {
      const c = own.client();
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        ids.push(
          (await c.files.create({ file: await toFile(Buffer.from(jsonl(1)), `f${i}.jsonl`), purpose: 'batch' })).id,
        );
      }
      const page = await c.files.list({ limit: 2 });
      expect(page.data.map((f) => f.id)).toEqual([ids[4], ids[3]]);
      expect(page.has_more).toBe(true);
      const raw = (await c.files
        .list({ limit: 2 })
        .asResponse()
        .then((r) => r.json())) as Record<string, unknown>;
      expect(raw).toMatchObject({ object: 'list', first_id: ids[4], last_id: ids[3], has_more: true });

      const all: string[] = [];
      for await (const f of c.files.list({ limit: 2 })) all.push(f.id);
      expect(all).toEqual([...ids].reverse());

      const asc = await c.files.list({ order: 'asc', limit: 3, after: ids[0] });
      expect(asc.data.map((f) => f.id)).toEqual([ids[1], ids[2], ids[3]]);
      expect((await c.files.list({ purpose: 'batch_output' })).data).toEqual([]);
    } finally {
      await own.close();
    }
  });

  describe('bad uploads answer with the OpenAI envelope and leave nothing behind', () => {
    let before: number;
    beforeEach(async () => {
      before = await fileRowCount(stack);
    });
    afterEach(async () => {
      expect(await fileRowCount(stack)).toBe(before);
      expect((await blobFiles(stack)).filter((f) => f.startsWith('tmp/'))).toEqual([]);
    });

    it('rejects a file over the limit with "File is too large."', async () => {
      const big = Buffer.alloc(LIMIT + 1, 'a');
      const err = await client.files.create({ file: await toFile(big, 'big.jsonl'), purpose: 'batch' }).catch((e) => e);
      expect(err).toBeInstanceOf(OpenAI.BadRequestError);
      expect(err.error).toMatchObject({ message: 'File is too large.', type: 'invalid_request_error' });
      expect(err.headers.get('x-request-id')).toMatch(/^req_/);
      expect(err.headers.get('x-should-retry')).toBe('false');
    });

    it('accepts a file of exactly the limit', async () => {
      const file = await client.files.create({
        file: await toFile(Buffer.alloc(LIMIT, 'a'), 'ok.jsonl'),
        purpose: 'batch',
      });
      expect(file.bytes).toBe(LIMIT);
      await client.files.delete(file.id);
    });

    it('rejects a purpose other than batch', async () => {
      const err = await client.files
        .create({ file: await toFile(Buffer.from(jsonl(1)), 'a.jsonl'), purpose: 'fine-tune' })
        .catch((e) => e);
      expect(err.status).toBe(400);
      expect(err.error.message).toMatch(/purpose/);
    });

    it('rejects a batch file that is not .jsonl', async () => {
      const err = await client.files
        .create({ file: await toFile(Buffer.from('x'), 'a.csv'), purpose: 'batch' })
        .catch((e) => e);
      expect(err.status).toBe(400);
      expect(err.error.message).toMatch(/\.jsonl/);
    });

    it('rejects a form without a file, without a purpose, and a body that is not multipart', async () => {
      const form = new FormData();
      form.append('purpose', 'batch');
      let res = await fetch(`${stack.baseURL}/files`, { method: 'POST', body: form });
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({
        error: {
          message: "Missing required parameter: 'file'.",
          type: 'invalid_request_error',
          param: 'file',
          code: null,
        },
      });

      const noPurpose = new FormData();
      noPurpose.append('file', new Blob([jsonl(1)]), 'a.jsonl');
      res = await fetch(`${stack.baseURL}/files`, { method: 'POST', body: noPurpose });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/purpose/);

      res = await fetch(`${stack.baseURL}/files`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"purpose":"batch"}',
      });
      expect(res.status).toBe(400);
      expect(res.headers.get('x-request-id')).toMatch(/^req_/);
      expect(((await res.json()) as { error: { type: string } }).error.type).toBe('invalid_request_error');
    });

    it('rejects expires_after out of range', async () => {
      const err = await client.files
        .create({
          file: await toFile(Buffer.from(jsonl(1)), 'a.jsonl'),
          purpose: 'batch',
          expires_after: { anchor: 'created_at', seconds: 60 },
        })
        .catch((e) => e);
      expect(err.status).toBe(400);
      expect(err.error.message).toMatch(/3600/);
    });

    it('keeps only the last segment of a path-like filename', async () => {
      const file = await client.files.create({
        file: await toFile(Buffer.from(jsonl(1)), '../../etc/x.jsonl'),
        purpose: 'batch',
      });
      expect(file.filename).toBe('x.jsonl');
      await client.files.delete(file.id);
    });
  });

  it('answers unknown ids and routes with 404 envelopes carrying x-request-id', async () => {
    const err = await client.files.retrieve('file-doesnotexist000000000000').catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect(err.error).toEqual({
      message: 'No such File object: file-doesnotexist000000000000',
      type: 'invalid_request_error',
      param: 'id',
      code: null,
    });
    const res = await fetch(`${stack.baseURL}/nope`);
    expect(res.status).toBe(404);
    expect(res.headers.get('x-request-id')).toMatch(/^req_/);
    expect(((await res.json()) as { error: { message: string } }).error.message).toBe('Invalid URL (GET /v1/nope)');
  });

  it('rejects an out-of-range list limit', async () => {
    await expect(client.files.list({ limit: 0 })).rejects.toMatchObject({ status: 400 });
    await expect(client.files.list({ limit: 10001 })).rejects.toMatchObject({ status: 400 });
  });
});

describe('API keys', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ API_KEYS: 'key-a:team-a,key-b:team-b' });
  });
  afterAll(() => stack.close());

  it('refuses a missing or wrong key and hides one owner’s files from another', async () => {
    await expect(stack.client('wrong').files.list()).rejects.toMatchObject({ status: 401 });
    const res = await fetch(`${stack.baseURL}/files`);
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { type: string } }).error.type).toBe('authentication_error');

    const a = stack.client('key-a');
    const b = stack.client('key-b');
    const file = await a.files.create({ file: await toFile(Buffer.from(jsonl(1)), 'a.jsonl'), purpose: 'batch' });
    await expect(b.files.retrieve(file.id)).rejects.toMatchObject({ status: 404 });
    await expect(b.files.delete(file.id)).rejects.toMatchObject({ status: 404 });
    expect((await b.files.list()).data).toEqual([]);
    expect((await a.files.list()).data.map((f) => f.id)).toEqual([file.id]);
  });
});

describe('Temporal connection', () => {
  it('is ready and the batch search attributes are registered', async () => {
    const stack = await startStack();
    try {
      const res = await fetch(stack.baseURL.replace('/v1', '/readyz'));
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ status: 'ok', store: 'ok', blobs: 'ok', temporal: 'ok' });
      const connection = await Connection.connect({ address: stack.config.TEMPORAL_ADDRESS! });
      try {
        const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace: 'default' });
        for (const name of BATCH_SEARCH_ATTRIBUTES) expect(Object.keys(customAttributes ?? {})).toContain(name);
      } finally {
        await connection.close();
      }
    } finally {
      await stack.close();
    }
  });
});

describe('an upload the client aborts mid-stream', () => {
  it('leaves no row, no blob and no temp file', async () => {
    const stack = await startStack({}, { worker: false });
    try {
      const { request } = await import('node:http');
      const url = new URL(`${stack.baseURL}/files`);
      const boundary = 'xxBOUNDARYxx';
      const req = request({
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': 10_000_000 },
      });
      req.on('error', () => undefined); // the abort below is the point
      req.write(`--${boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n`);
      req.write(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jsonl"\r\n\r\n`);
      // More than one S3 part (8 MiB), so on S3 a multipart upload is under way too, not just a buffered part.
      req.write(Buffer.alloc(9_000_000, 'a'));
      await waitFor(async () => (await blobFiles(stack)).some((f) => f.startsWith('tmp/')));
      req.destroy();
      await waitFor(async () => (await blobFiles(stack)).length === 0).catch(() => undefined);
      expect(await blobFiles(stack)).toEqual([]);
      expect(await fileRowCount(stack)).toBe(0);
      // The service keeps serving.
      expect((await stack.client().files.list()).data).toEqual([]);
    } finally {
      await stack.close();
    }
  });
});
