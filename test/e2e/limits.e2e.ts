import { request } from 'node:http';
import OpenAI, { toFile } from 'openai';
import { startStack, type Stack } from '../support/stack';
import { listFileBlobs } from '../support/test-blobs';

describe('limits on the API itself', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack(
      { API_KEYS: 'k1:team-a,k2:team-b', API_RATE_LIMIT_PER_MINUTE: '5', MAX_CONCURRENT_UPLOADS: '1' },
      { worker: false },
    );
  });
  afterAll(() => stack.close());

  it('answers 429 rate_limit_error with Retry-After past the per-key rate; other keys and probes are unaffected', async () => {
    const a = stack.client('k1');
    for (let i = 0; i < 5; i++) await a.batches.list();
    const err = await a.batches.list().catch((e) => e);
    expect(err.status).toBe(429);
    expect(err.error).toMatchObject({ type: 'rate_limit_error', message: expect.stringMatching(/Rate limit/) });
    expect(Number(err.headers.get('retry-after'))).toBeGreaterThan(0);
    await expect(stack.client('k2').batches.list()).resolves.toBeDefined();
    for (let i = 0; i < 8; i++) expect((await fetch(stack.baseURL.replace('/v1', '/healthz'))).status).toBe(200);
  });

  it('bounds concurrent uploads and refuses oversized JSON bodies with the envelope', async () => {
    const url = new URL(`${stack.baseURL}/files`);
    const boundary = 'b0undary';
    const slow = request({
      host: url.hostname,
      port: url.port,
      path: url.pathname,
      method: 'POST',
      headers: {
        authorization: 'Bearer k2',
        'content-type': `multipart/form-data; boundary=${boundary}`,
        'transfer-encoding': 'chunked',
      },
    });
    slow.on('error', () => undefined);
    slow.write(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jsonl"\r\n\r\n{}\n`);
    await new Promise((r) => setTimeout(r, 300));
    const form = new FormData();
    form.append('purpose', 'batch');
    form.append('file', new Blob(['{}\n']), 'b.jsonl');
    const res = await fetch(`${stack.baseURL}/files`, {
      method: 'POST',
      body: form,
      headers: { authorization: 'Bearer k2' },
    });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(((await res.json()) as { error: { type: string } }).error.type).toBe('rate_limit_error');
    slow.destroy();

    const big = await fetch(`${stack.baseURL}/batches`, {
      method: 'POST',
      headers: { authorization: 'Bearer k2', 'content-type': 'application/json' },
      body: JSON.stringify({ input_file_id: 'x', metadata: { pad: 'x'.repeat(2 * 1024 * 1024) } }),
    });
    expect(big.status).toBe(413);
    expect(((await big.json()) as { error: { type: string; message: string } }).error).toMatchObject({
      type: 'invalid_request_error',
      message: 'Request body is too large.',
    });
  });
});

describe('slow uploads', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack(
      { MAX_CONCURRENT_UPLOADS: '4', UPLOAD_MIN_BYTES_PER_SECOND: '1000', UPLOAD_RATE_WINDOW_MS: '1000' },
      { worker: false },
    );
  });
  afterAll(() => stack.close());

  /** An upload that sends its first bytes and then one byte every 200 ms. */
  function trickle(): { closed: Promise<void>; stop: () => void } {
    const url = new URL(`${stack.baseURL}/files`);
    const boundary = 'tr1ckle';
    const req = request({
      host: url.hostname,
      port: url.port,
      path: url.pathname,
      method: 'POST',
      headers: { authorization: 'Bearer test-key', 'content-type': `multipart/form-data; boundary=${boundary}` },
    });
    const closed = new Promise<void>((resolve) => {
      req.on('error', () => resolve());
      req.on('close', () => resolve());
    });
    req.write(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="slow.jsonl"\r\n\r\n`);
    const timer = setInterval(() => req.write('{'), 200);
    req.on('close', () => clearInterval(timer));
    return { closed, stop: () => (clearInterval(timer), req.destroy()) };
  }

  it('cuts off uploads slower than the minimum rate, freeing their slots, and keeps nothing of them', async () => {
    const slow = Array.from({ length: 4 }, trickle);
    try {
      await new Promise((r) => setTimeout(r, 300));
      const client = stack.client();
      // Every slot is held by a trickling client at first...
      const form = new FormData();
      form.append('purpose', 'batch');
      form.append('file', new Blob(['{}\n']), 'b.jsonl');
      const refused = await fetch(`${stack.baseURL}/files`, {
        method: 'POST',
        body: form,
        headers: { authorization: 'Bearer test-key' },
      });
      expect(refused.status).toBe(429);
      // ...until the window passes and each is cut off for sending too little.
      await Promise.all(slow.map((s) => s.closed));
      // The server frees each slot as it finishes with the cut-off request: a retry soon after gets in.
      const upload = async () =>
        client.files.create({ file: await toFile(Buffer.from('{"a":1}\n'), 'ok.jsonl'), purpose: 'batch' });
      const deadline = Date.now() + 2000;
      let file = await upload().catch((err: { status?: number }) => err);
      while ('status' in file && file.status === 429 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
        file = await upload().catch((err: { status?: number }) => err);
      }
      if (!('bytes' in file)) throw new Error(`upload still refused: ${JSON.stringify(file)}`);
      const id = file.id;
      expect(file.bytes).toBe(8);
      expect((await listFileBlobs(stack.config)).filter((b) => b !== `files/${id}`)).toEqual([]);
    } finally {
      for (const s of slow) s.stop();
    }
  });
});

describe('uploads under load', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack(
      { API_KEYS: 'ka:team-a,kb:team-b', MAX_CONCURRENT_UPLOADS_PER_OWNER: '1', API_RATE_LIMIT_PER_MINUTE: '100000' },
      { worker: false },
    );
  });
  afterAll(() => stack.close());

  it('one owner holding its upload slots does not keep another owner out', async () => {
    const url = new URL(`${stack.baseURL}/files`);
    const boundary = 'h0ld';
    const held = request({
      host: url.hostname,
      port: url.port,
      path: url.pathname,
      method: 'POST',
      headers: { authorization: 'Bearer ka', 'content-type': `multipart/form-data; boundary=${boundary}` },
    });
    held.on('error', () => undefined);
    held.write(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jsonl"\r\n\r\n{}\n`);
    await new Promise((r) => setTimeout(r, 300));
    try {
      const small = async (key: string) =>
        stack
          .client(key)
          .files.create({ file: await toFile(Buffer.from('{"a":1}\n'), 'x.jsonl'), purpose: 'batch' })
          .then(
            () => 200,
            (err: { status?: number; headers?: Headers }) => {
              if (err.status === 429) expect(err.headers?.get('retry-after-ms')).toBe('1000');
              return err.status;
            },
          );
      expect(await small('ka')).toBe(429);
      expect(await small('kb')).toBe(200);
    } finally {
      held.destroy();
    }
  });

  it('serves 20 clients uploading at once with the default limits (the small-batch burst), none refused', async () => {
    const solo = await startStack({}, { worker: false });
    try {
      const statuses = await Promise.all(
        Array.from({ length: 20 }, async (_, c) => {
          const client = new OpenAI({ baseURL: solo.baseURL, apiKey: 'x', maxRetries: 0 });
          const line = JSON.stringify({ custom_id: `c${c}`, method: 'POST', url: '/v1/chat/completions', body: {} });
          return client.files
            .create({ file: await toFile(Buffer.from(`${line}\n`), `in-${c}.jsonl`), purpose: 'batch' })
            .then(
              () => 200,
              (err: { status?: number }) => err.status ?? 0,
            );
        }),
      );
      expect(statuses.filter((s) => s !== 200)).toEqual([]);
    } finally {
      await solo.close();
    }
  });
});
