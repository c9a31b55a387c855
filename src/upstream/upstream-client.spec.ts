import { UpstreamSimulator } from '../../test/support/upstream-simulator';
import { RateLimiter } from './rate-limiter';
import { UpstreamAbortedError, UpstreamClient } from './upstream-client';

const body = (key: string, x_sim: Record<string, unknown> = {}) =>
  JSON.stringify({ model: 'm', messages: [{ role: 'user', content: key }], x_sim: { key, ...x_sim } });

describe('UpstreamClient against a real HTTP simulator', () => {
  let sim: UpstreamSimulator;
  let client: UpstreamClient;
  const signal = new AbortController().signal;

  beforeAll(async () => {
    sim = await UpstreamSimulator.start();
    client = new UpstreamClient({
      name: 't',
      baseUrl: sim.baseUrl,
      concurrency: 8,
      timeoutMs: 300,
      maxRetries: 3,
      retryBaseMs: 10,
      retryMaxMs: 5000,
    });
  });
  afterAll(async () => {
    await client.close();
    await sim.close();
  });

  it('waits Retry-After on a 429 and halves its concurrency', async () => {
    const t0 = Date.now();
    const result = await client.send(
      '/v1/chat/completions',
      body('ra', { faults: [{ status: 429, retry_after: 1 }] }),
      signal,
    );
    expect(result).toMatchObject({ kind: 'response', status: 200, attempts: 2 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(950);
    expect(client.stats().limit).toBe(4);
  });

  it('calls onBackoff before every wait between attempts, and never for a first answer', async () => {
    let waits = 0;
    const onBackoff = () => waits++;
    const retried = await client.send(
      '/v1/chat/completions',
      body('bo', { faults: [{ status: 500 }, { status: 503 }] }),
      signal,
      { onBackoff },
    );
    expect(retried).toMatchObject({ kind: 'response', status: 200, attempts: 3 });
    expect(waits).toBe(2);
    await client.send('/v1/chat/completions', body('bo-ok'), signal, { onBackoff });
    expect(waits).toBe(2);
  });

  it('retries a timeout and reports upstream_timeout when every attempt times out', async () => {
    // undici checks headersTimeout on a timer that ticks about every half second, so a 300 ms timeout fires after
    // 0.3-1 s, later still on a loaded machine: the simulator waits well past that before it answers.
    const slow = body('slow', { always: { delay_ms: 4000 } });
    const result = await client.send('/v1/chat/completions', slow, signal);
    expect(result).toMatchObject({ kind: 'error', code: 'upstream_timeout', attempts: 4 });
    expect(sim.calls('slow')).toBe(4);
  });

  /** A client on the simulator with one slot, so a second request waits for it. */
  const singleSlot = (opts: { maxRetries: number }) =>
    new UpstreamClient({
      name: 'one',
      baseUrl: sim.baseUrl,
      concurrency: 1,
      timeoutMs: 5000,
      retryBaseMs: 10,
      retryMaxMs: 100,
      ...opts,
    });

  it('sendWith calls back once per request: a first answer, a request that waited for a slot, and a retried one', async () => {
    const one = singleSlot({ maxRetries: 2 });
    const results = await Promise.all(
      [body('cb-a'), body('cb-b'), body('cb-c', { faults: [{ status: 500 }] })].map(
        (b) =>
          new Promise((resolve, reject) => {
            let calls = 0;
            one.sendWith('/v1/chat/completions', b, signal, {}, (err, result) => {
              if (++calls > 1) reject(new Error('called back twice'));
              else if (err) reject(err);
              else setTimeout(() => resolve(result), 50); // a second call back would land meanwhile
            });
          }),
      ),
    );
    expect(results).toMatchObject([
      { kind: 'response', status: 200, attempts: 1 },
      { kind: 'response', status: 200, attempts: 1 },
      { kind: 'response', status: 200, attempts: 2 },
    ]);
    // The second and third waited for the only slot.
    expect(one.stats().inFlight).toBe(0);
    await one.close();
  });

  it('sendWith calls back with UpstreamAbortedError when the signal aborts mid-request or while waiting', async () => {
    const one = singleSlot({ maxRetries: 0 });
    const ac = new AbortController();
    const outcome = (b: string) =>
      new Promise<unknown>((resolve) => one.sendWith('/v1/chat/completions', b, ac.signal, {}, (err) => resolve(err)));
    const inFlight = outcome(body('ab-1', { always: { delay_ms: 2000 } }));
    const waiting = outcome(body('ab-2'));
    await new Promise((r) => setTimeout(r, 100));
    ac.abort();
    expect(await inFlight).toBeInstanceOf(UpstreamAbortedError);
    expect(await waiting).toBeInstanceOf(UpstreamAbortedError);
    expect(sim.calls('ab-2')).toBe(0);
    expect(one.stats().inFlight).toBe(0);
    await one.close();
  });

  const deadUpstream = (outageToleranceMs: number) =>
    new UpstreamClient({
      name: 'dead',
      baseUrl: 'http://127.0.0.1:9/v1',
      concurrency: 1,
      timeoutMs: 500,
      maxRetries: 1,
      retryBaseMs: 1,
      retryMaxMs: 300,
      outageToleranceMs,
    });

  it('reports upstream_unreachable when nothing listens and no outage is tolerated', async () => {
    const dead = deadUpstream(0);
    await expect(dead.send('/v1/embeddings', '{}', signal)).resolves.toMatchObject({
      kind: 'error',
      code: 'upstream_unreachable',
      attempts: 2,
    });
    await dead.close();
  });

  it('keeps waiting for an upstream that refuses connections until the outage tolerance runs out', async () => {
    const dead = deadUpstream(1500);
    const started = Date.now();
    await expect(dead.send('/v1/embeddings', '{}', signal)).resolves.toMatchObject({
      kind: 'error',
      code: 'upstream_unreachable',
    });
    // Retries past maxRetries while within the tolerance, then the normal retries, then the final answer.
    expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
    await dead.close();
  });

  it('maps /v1/x onto the base URL', () => {
    expect(client.urlFor('/v1/chat/completions')).toBe(`${sim.baseUrl}/chat/completions`);
  });
});

describe('RateLimiter', () => {
  it('spaces requests to the per-minute rate after the one-second burst', async () => {
    const limiter = new RateLimiter(1200); // 20 per second, burst 20
    const t0 = Date.now();
    for (let i = 0; i < 40; i++) await limiter.take(1);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
  });

  it('lets a take larger than the bucket through once the bucket is full', async () => {
    const limiter = new RateLimiter(60000); // 1000 per second
    await expect(limiter.take(5000)).resolves.toBeUndefined();
  });
});
