import { request } from 'node:http';
import { startStack, type Stack } from '../support/stack';

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
