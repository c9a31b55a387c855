import { Agent, request } from 'undici';
import type { Dispatcher } from 'undici';
import { UpstreamSimulator } from './upstream-simulator';
import type { SimDirective } from './upstream-simulator';

interface Reply {
  status: number;
  headers: Dispatcher.ResponseData['headers'];
  json: Record<string, unknown>;
}

describe('UpstreamSimulator', () => {
  let sim: UpstreamSimulator;
  let agent: Agent;

  beforeAll(async () => {
    sim = await UpstreamSimulator.start();
    agent = new Agent({ keepAliveTimeout: 30_000 });
  });

  afterAll(async () => {
    await agent.close();
    await sim.close();
  });

  beforeEach(() => {
    sim.reset();
    sim.latencyMs = 0;
  });

  function raw(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Dispatcher.ResponseData> {
    const payload = typeof body === 'string' ? body : JSON.stringify(body);
    return request(`${sim.baseUrl}${path}`, {
      method: 'POST',
      body: payload,
      headers: { 'content-type': 'application/json', ...headers },
      dispatcher: agent,
    });
  }

  async function post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Reply> {
    const res = await raw(path, body, headers);
    return { status: res.statusCode, headers: res.headers, json: (await res.body.json()) as Record<string, unknown> };
  }

  function withSim(x_sim: SimDirective, body: Record<string, unknown> = { model: 'm', input: 'x' }): unknown {
    return { ...body, x_sim };
  }

  it('answers chat completions with an echo and length-derived usage', async () => {
    const body = { model: 'gpt-test', messages: [{ role: 'user', content: 'hello world' }] };
    const reply = await post('/chat/completions', body, { authorization: 'Bearer sk-sim' });

    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toBe('application/json');
    expect(reply.headers['x-request-id']).toMatch(/^req_[0-9a-f]+$/);
    expect(reply.json).toMatchObject({
      object: 'chat.completion',
      model: 'gpt-test',
      choices: [{ index: 0, message: { role: 'assistant', content: 'echo: hello world' }, finish_reason: 'stop' }],
      usage: {
        prompt_tokens: 3,
        completion_tokens: 5,
        total_tokens: 8,
        prompt_tokens_details: { cached_tokens: 0 },
        completion_tokens_details: { reasoning_tokens: 0 },
      },
    });
    expect(reply.json.id).toMatch(/^chatcmpl-/);
    expect(sim.calls(JSON.stringify(body))).toBe(1);
    expect(sim.authHeaders()).toEqual(['Bearer sk-sim']);
  });

  it('returns one deterministic 8-float embedding per input', async () => {
    const cases: [unknown, number][] = [
      ['one', 1],
      [['a', 'b', 'c'], 3],
      [
        [
          [1, 2],
          [3, 4],
        ],
        2,
      ],
      [[1, 2, 3], 1],
    ];
    for (const [input, count] of cases) {
      const reply = await post('/embeddings', { model: 'emb', input });
      const data = reply.json.data as { object: string; index: number; embedding: number[] }[];
      expect(data).toHaveLength(count);
      data.forEach((item, i) => expect(item).toMatchObject({ object: 'embedding', index: i }));
      expect(data[0]?.embedding).toHaveLength(8);
    }
    const first = await post('/embeddings', { model: 'emb', input: 'same', x_sim: { key: 'e1' } });
    const second = await post('/embeddings', { model: 'emb', input: 'same', x_sim: { key: 'e2' } });
    expect(first.json.data).toEqual(second.json.data);
    expect(first.json.usage).toEqual({ prompt_tokens: 1, total_tokens: 1 });
  });

  it.each([
    ['/completions', { model: 'm', prompt: 'hi' }, { object: 'text_completion', choices: [{ text: 'echo: hi' }] }],
    [
      '/responses',
      { model: 'm', input: [{ role: 'user', content: 'hey' }] },
      {
        object: 'response',
        status: 'completed',
        output: [{ type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'echo: hey' }] }],
        usage: { input_tokens: 1, output_tokens: 3, total_tokens: 4 },
      },
    ],
    ['/moderations', { model: 'm', input: 'x' }, { model: 'm', results: [{ flagged: false }] }],
    ['/images/generations', { model: 'm', prompt: 'cat' }, { data: [{ b64_json: 'aGVsbG8=' }] }],
    ['/images/edits', { model: 'm', prompt: 'cat' }, { data: [{ b64_json: 'aGVsbG8=' }] }],
    ['/videos', { model: 'm', prompt: 'cat' }, { object: 'video', model: 'm', status: 'queued' }],
  ])('answers %s with the OpenAI shape', async (path, body, shape) => {
    const reply = await post(path, body);
    expect(reply.status).toBe(200);
    expect(reply.json).toMatchObject(shape);
  });

  it('rejects unknown paths, other methods and invalid JSON with OpenAI errors', async () => {
    const missing = await post('/nope', {});
    expect(missing.status).toBe(404);
    expect(missing.json).toEqual({
      error: { message: expect.any(String), type: 'invalid_request_error', param: null, code: null },
    });

    const get = await request(`${sim.baseUrl}/chat/completions`, { dispatcher: agent });
    expect(get.statusCode).toBe(405);
    await get.body.dump();

    const invalid = await post('/chat/completions', '{"model": ');
    expect(invalid.status).toBe(400);
    expect(invalid.json).toHaveProperty('error.type', 'invalid_request_error');
  });

  it('plays the fault sequence per key, then succeeds', async () => {
    const body = withSim({ key: 'seq', faults: [{ status: 500 }, { status: 429, retry_after: 2 }] });

    const first = await post('/embeddings', body);
    expect(first.status).toBe(500);
    expect(first.json).toHaveProperty('error.type', 'server_error');
    const second = await post('/embeddings', body);
    expect(second.status).toBe(429);
    expect(second.headers['retry-after']).toBe('2');
    const third = await post('/embeddings', body);
    expect(third.status).toBe(200);

    expect(sim.calls('seq')).toBe(3);
    expect(sim.totalCalls).toBe(3);
    expect(sim.callCounts()).toEqual(new Map([['seq', 3]]));
  });

  it('applies always on every attempt, after any scripted faults', async () => {
    const body = withSim({ key: 'bad', faults: [{ status: 503 }], always: { status: 400 } });
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await post('/embeddings', body)).status);
    expect(statuses).toEqual([503, 400, 400]);
    expect(sim.calls('bad')).toBe(3);
  });

  it('counts by the body minus x_sim when x_sim has no key', async () => {
    await post('/embeddings', withSim({ latency_ms: 0 }, { model: 'm', input: 'k' }));
    expect(sim.calls(JSON.stringify({ model: 'm', input: 'k' }))).toBe(1);
  });

  it('drops the socket without a response', async () => {
    await expect(raw('/embeddings', withSim({ key: 'drop', faults: [{ drop: true }] }))).rejects.toThrow();
  });

  it('resets the connection in the middle of the body', async () => {
    const res = await raw(
      '/chat/completions',
      withSim({ key: 'reset', faults: [{ reset_mid_body: true }] }, { messages: [] }),
    );
    expect(res.statusCode).toBe(200);
    await expect(res.body.text()).rejects.toThrow();
  });

  it('sends non-JSON and truncated JSON bodies labelled as JSON', async () => {
    const nonJson = await raw('/embeddings', withSim({ key: 'nj', faults: [{ non_json: true }] }));
    expect(nonJson.statusCode).toBe(200);
    expect(nonJson.headers['content-type']).toBe('application/json');
    expect(await nonJson.body.text()).toBe('this is not json');

    const truncated = await raw('/embeddings', withSim({ key: 'ij', faults: [{ invalid_json: true }] }));
    const text = await truncated.body.text();
    expect(text).toBe('{"id": "x", "choices": [');
    expect(() => JSON.parse(text)).toThrow();
  });

  it('delays answers by the server latency, x_sim.latency_ms and delay_ms', async () => {
    const timed = async (body: unknown): Promise<number> => {
      const started = performance.now();
      await post('/embeddings', body);
      return performance.now() - started;
    };
    sim.latencyMs = 150;
    expect(await timed({ input: 'a' })).toBeGreaterThanOrEqual(135);
    sim.latencyMs = 0;
    expect(await timed(withSim({ latency_ms: 120 }))).toBeGreaterThanOrEqual(108);
    expect(await timed(withSim({ key: 'slow', faults: [{ delay_ms: 100 }] }))).toBeGreaterThanOrEqual(90);
  });

  it('tracks the peak of concurrent requests', async () => {
    sim.latencyMs = 100;
    const replies = await Promise.all(Array.from({ length: 10 }, (_, i) => post('/embeddings', { input: `c${i}` })));
    expect(replies.every((reply) => reply.status === 200)).toBe(true);
    expect(sim.peakInFlight).toBe(10);
  });

  it('counts the requests of each x_sim.group in flight', async () => {
    sim.latencyMs = 200;
    const replies = Promise.all([
      ...Array.from({ length: 3 }, (_, i) => post('/embeddings', withSim({ group: 'a' }, { input: `a${i}` }))),
      post('/embeddings', withSim({ group: 'b' })),
    ]);
    while (sim.inFlight < 4) await new Promise((resolve) => setTimeout(resolve, 5));
    expect([sim.inFlightOf('a'), sim.inFlightOf('b'), sim.inFlightOf('c')]).toEqual([3, 1, 0]);
    await replies;
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect([sim.inFlightOf('a'), sim.inFlightOf('b')]).toEqual([0, 0]);
  });

  it('closes with an idle keep-alive connection and a pending delayed request', async () => {
    const other = await UpstreamSimulator.start();
    const client = new Agent({ keepAliveTimeout: 60_000 });
    try {
      const idle = await request(`${other.baseUrl}/embeddings`, { method: 'POST', body: '{}', dispatcher: client });
      await idle.body.dump();
      other.latencyMs = 10_000;
      const pending = request(`${other.baseUrl}/embeddings`, { method: 'POST', body: '{}', dispatcher: client });
      const settled = pending.then(
        () => 'answered',
        () => 'failed',
      );
      while (other.inFlight === 0) await new Promise((resolve) => setTimeout(resolve, 5));

      const started = performance.now();
      await other.close();
      expect(performance.now() - started).toBeLessThan(1000);
      expect(await settled).toBe('failed');
    } finally {
      await client.destroy();
    }
  });
});
