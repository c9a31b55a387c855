import { createChatBatch, waitForStatus } from '../support/batch-helpers';
import { simulatedStack } from '../support/simulated-stack';

/** GET /v1/batches/{id} runs on Fastify directly (not through a Nest controller): it must behave like every route. */
describe('GET /v1/batches/{id}', () => {
  const t = simulatedStack(
    { latencyMs: 5 },
    {
      API_KEYS: 'k1:team-a,k2:team-b,k3:team-c',
      API_RATE_LIMIT_PER_MINUTE: '40',
    },
  );

  const get = (id: string, key?: string) =>
    fetch(`${t.stack.baseURL}/batches/${id}`, { headers: key ? { authorization: `Bearer ${key}` } : {} });

  it("answers a finished batch the same every time, and never to another owner's key", async () => {
    const a = t.stack.client('k1');
    const { batch } = await createChatBatch(a, 'r', 5);
    const done = await waitForStatus(a, batch.id, ['completed', 'failed']);
    expect(done.status).toBe('completed');
    // Read twice: the second answer comes from the finished-batch cache and must be identical.
    const first = await a.batches.retrieve(batch.id);
    expect(await a.batches.retrieve(batch.id)).toEqual(first);
    expect(first).toEqual(done);

    const other = await get(batch.id, 'k2');
    expect(other.status).toBe(404);
    expect(other.headers.get('x-request-id')).toMatch(/^req_/);
    expect(other.headers.get('x-should-retry')).toBe('false');
    expect(await other.json()).toEqual({
      error: { message: `No such Batch: ${batch.id}`, type: 'invalid_request_error', param: 'batch_id', code: null },
    });
  });

  it('refuses a missing or unknown key with 401 and the envelope', async () => {
    const missing = await get('batch_x');
    expect(missing.status).toBe(401);
    expect(missing.headers.get('x-request-id')).toMatch(/^req_/);
    expect(((await missing.json()) as { error: { type: string } }).error.type).toBe('authentication_error');
    const unknown = await get('batch_x', 'nope');
    expect(unknown.status).toBe(401);
    expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe('invalid_api_key');
  });

  it('counts against the per-key rate limit', async () => {
    let last: Response | undefined;
    for (let i = 0; i < 41; i++) last = await get('batch_nope', 'k3');
    expect(last!.status).toBe(429);
    expect(Number(last!.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await last!.json()) as { error: { type: string } }).error.type).toBe('rate_limit_error');
  });
});
