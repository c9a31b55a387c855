import { Client, Connection } from '@temporalio/client';
import OpenAI from 'openai';
import {
  chatLine,
  createChatBatch,
  readResults,
  uploadLines,
  waitForStatus,
  type ResultLine,
} from '../support/batch-helpers';
import { simulatedStack } from '../support/simulated-stack';
import { startStack, type Stack } from '../support/stack';
import { UpstreamSimulator } from '../support/upstream-simulator';

const byCustomId = (lines: ResultLine[]) => new Map(lines.map((l) => [l.custom_id, l]));

/** Every custom_id of the input appears exactly once across output and error files. */
function expectExactlyOnce(ids: string[], output: ResultLine[], errors: ResultLine[]) {
  const seen = [...output, ...errors].map((l) => l.custom_id).sort();
  expect(seen).toEqual([...ids].sort());
}

describe('Batches end to end through the official client', () => {
  let sim: UpstreamSimulator;
  let stack: Stack;
  let client: OpenAI;

  beforeAll(async () => {
    sim = await UpstreamSimulator.start();
    stack = await startStack({
      UPSTREAM_BASE_URL: sim.baseUrl,
      UPSTREAM_API_KEY: 'upstream-secret',
      UPSTREAM_CONCURRENCY: '8',
      UPSTREAM_RETRY_BASE_MS: '10',
      UPSTREAM_MAX_RETRIES: '3',
      CHUNK_SIZE: '10',
      CHECKPOINT_INTERVAL_MS: '100',
      MAX_BATCH_REQUESTS: '30',
    });
    client = stack.client();
  });
  afterAll(async () => {
    await stack.close();
    await sim.close();
  });
  beforeEach(() => {
    sim.latencyMs = 0;
  });

  it('forwards each request body upstream exactly as the line has it', async () => {
    // Re-serialized, the seed would lose digits past 2^53, 1.0 would become 1 and the escape would be decoded.
    const body =
      '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"caf\\u00e9"}],"seed":12345678901234567890,"temperature":1.0}';
    const line = `{"custom_id":"exact-1","method":"POST","url":"/v1/chat/completions","body":${body}}`;
    const batch = await client.batches.create({
      input_file_id: await uploadLines(client, [line]),
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    const done = await waitForStatus(client, batch.id, ['completed', 'failed']);
    expect(done.request_counts).toEqual({ total: 1, completed: 1, failed: 0 });
    // The simulator counts a request without x_sim under its raw body text.
    expect(sim.calls(body)).toBe(1);
  });

  it('runs a chat batch to completed with every field of the Batch object', async () => {
    const ids = Array.from({ length: 25 }, (_, i) => `chat-${i}`);
    const inputFileId = await uploadLines(
      client,
      ids.map((id) => chatLine(id)),
    );
    const created = await client.batches.create({
      input_file_id: inputFileId,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
      metadata: { job: 'nightly' },
    });
    expect(created).toEqual({
      id: expect.stringMatching(/^batch_/),
      object: 'batch',
      endpoint: '/v1/chat/completions',
      model: null,
      errors: null,
      input_file_id: inputFileId,
      completion_window: '24h',
      status: 'validating',
      output_file_id: null,
      error_file_id: null,
      created_at: expect.any(Number),
      in_progress_at: null,
      expires_at: created.created_at + 86400,
      finalizing_at: null,
      completed_at: null,
      failed_at: null,
      expired_at: null,
      cancelling_at: null,
      cancelled_at: null,
      request_counts: { total: 0, completed: 0, failed: 0 },
      usage: {
        input_tokens: 0,
        input_tokens_details: { cached_tokens: 0 },
        output_tokens: 0,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: 0,
      },
      metadata: { job: 'nightly' },
    });

    const done = await waitForStatus(client, created.id, ['completed', 'failed']);
    expect(done.status).toBe('completed');
    expect(done.model).toBe('gpt-test');
    expect(done.request_counts).toEqual({ total: 25, completed: 25, failed: 0 });
    for (const k of ['in_progress_at', 'finalizing_at', 'completed_at'] as const)
      expect(done[k]).toEqual(expect.any(Number));
    expect(done.error_file_id).toBeNull();

    const output = await readResults(client, done.output_file_id);
    expectExactlyOnce(ids, output, []);
    const line = byCustomId(output).get('chat-7')!;
    expect(line.id).toMatch(/^batch_req_/);
    expect(line.error).toBeNull();
    expect(line.response!.status_code).toBe(200);
    expect(line.response!.request_id).toMatch(/^req_/);
    const body = line.response!.body as {
      choices: { message: { content: string } }[];
      usage: { total_tokens: number };
    };
    expect(body.choices[0].message.content).toBe('echo: hello chat-7');

    const sum = output.reduce(
      (n, l) => n + (l.response!.body as { usage: { total_tokens: number } }).usage.total_tokens,
      0,
    );
    expect(done.usage!.total_tokens).toBe(sum);
    expect(done.usage!.input_tokens + done.usage!.output_tokens).toBe(sum);
    expect(sim.authHeaders()).toContain('Bearer upstream-secret');

    const outFile = await client.files.retrieve(done.output_file_id!);
    expect(outFile).toMatchObject({ purpose: 'batch_output', filename: `${done.id}_output.jsonl` });
    expect(outFile.expires_at).toBe(outFile.created_at + 2592000);
  });

  it('runs an embeddings batch and honours output_expires_after', async () => {
    const lines = Array.from({ length: 6 }, (_, i) => ({
      custom_id: `emb-${i}`,
      method: 'POST',
      url: '/v1/embeddings',
      body: { model: 'embed-test', input: [`a${i}`, `b${i}`] },
    }));
    const created = await client.batches.create({
      input_file_id: await uploadLines(client, lines),
      endpoint: '/v1/embeddings',
      completion_window: '24h',
      output_expires_after: { anchor: 'created_at', seconds: 7200 },
    });
    const done = await waitForStatus(client, created.id, ['completed', 'failed']);
    expect(done.status).toBe('completed');
    expect(done.request_counts).toEqual({ total: 6, completed: 6, failed: 0 });
    const output = await readResults(client, done.output_file_id);
    const body = byCustomId(output).get('emb-3')!.response!.body as { data: { embedding: number[] }[] };
    expect(body.data).toHaveLength(2);
    expect(body.data[0].embedding).toHaveLength(8);
    const file = await client.files.retrieve(done.output_file_id!);
    expect(file.expires_at).toBe(file.created_at + 7200);
  });

  it.each([
    ['/v1/responses', { model: 'gpt-test', input: 'hi' }, 'response'],
    ['/v1/completions', { model: 'gpt-test', prompt: 'hi' }, 'text_completion'],
    ['/v1/moderations', { input: 'hi' }, undefined],
    ['/v1/images/generations', { prompt: 'a cat' }, undefined],
    ['/v1/images/edits', { prompt: 'a hat', image: 'data:image/png;base64,aGVsbG8=' }, undefined],
    ['/v1/videos', { model: 'sora-test', prompt: 'waves' }, 'video'],
  ] as const)('forwards %s requests to the matching upstream path', async (endpoint, body, object) => {
    const lines = [0, 1].map((i) => ({ custom_id: `${endpoint}-${i}`, method: 'POST', url: endpoint, body }));
    const created = await client.batches.create({
      input_file_id: await uploadLines(client, lines),
      endpoint,
      completion_window: '24h',
    });
    const done = await waitForStatus(client, created.id, ['completed', 'failed']);
    expect(done.status).toBe('completed');
    expect(done.request_counts).toEqual({ total: 2, completed: 2, failed: 0 });
    const output = await readResults(client, done.output_file_id);
    expect(output).toHaveLength(2);
    if (object) expect(output[0].response!.body.object).toBe(object);
    if (endpoint === '/v1/responses') expect(done.usage!.output_tokens).toBeGreaterThan(0);
  });

  it('retries 429 and 5xx, keeps 4xx final, and writes failures to the error file', async () => {
    sim.reset();
    const x = (key: string, sim: Record<string, unknown>) => chatLine(key, { x_sim: { key, ...sim } });
    const lines = [
      x('ok', {}),
      x('bad-request', { always: { status: 400 } }),
      x('flaky-500', { faults: [{ status: 500 }, { status: 502 }] }),
      x('throttled', { faults: [{ status: 429, retry_after: 0 }, { status: 429 }] }),
      x('always-500', { always: { status: 500 } }),
      x('dropped', { faults: [{ drop: true }] }),
      x('reset', { faults: [{ reset_mid_body: true }] }),
      x('not-json', { always: { non_json: true } }),
    ];
    const created = await client.batches.create({
      input_file_id: await uploadLines(client, lines),
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    const done = await waitForStatus(client, created.id, ['completed', 'failed']);
    expect(done.status).toBe('completed');
    expect(done.request_counts).toEqual({ total: 8, completed: 5, failed: 3 });
    const output = byCustomId(await readResults(client, done.output_file_id));
    const errors = byCustomId(await readResults(client, done.error_file_id));
    expect([...output.keys()].sort()).toEqual(['dropped', 'flaky-500', 'ok', 'reset', 'throttled']);
    expect(errors.get('bad-request')).toMatchObject({ response: { status_code: 400 }, error: null });
    expect((errors.get('bad-request')!.response!.body as { error: { type: string } }).error.type).toBe(
      'invalid_request_error',
    );
    expect(errors.get('always-500')).toMatchObject({ response: { status_code: 500 }, error: null });
    expect(errors.get('not-json')).toMatchObject({ response: null, error: { code: 'invalid_upstream_response' } });

    expect(sim.calls('ok')).toBe(1);
    expect(sim.calls('bad-request')).toBe(1);
    expect(sim.calls('flaky-500')).toBe(3);
    expect(sim.calls('throttled')).toBe(3);
    expect(sim.calls('always-500')).toBe(4);
    expect(sim.calls('dropped')).toBe(2);
    expect(sim.calls('reset')).toBe(2);

    const metrics = await (await fetch(stack.baseURL.replace('/v1', '/metrics'))).text();
    const value = (series: string) =>
      Number(new RegExp(`^${series.replace(/[{}"]/g, '\\$&')} (\\S+)$`, 'm').exec(metrics)?.[1]);
    expect(
      value('batch_upstream_requests_total{upstream="default",model="gpt-test",result="failed"}'),
    ).toBeGreaterThanOrEqual(3);
    expect(
      value('batch_upstream_retries_total{upstream="default",model="gpt-test",reason="5xx"}'),
    ).toBeGreaterThanOrEqual(5);
    expect(
      value('batch_upstream_retries_total{upstream="default",model="gpt-test",reason="429"}'),
    ).toBeGreaterThanOrEqual(2);
    expect(value('batch_batches{status="completed"}')).toBeGreaterThanOrEqual(1);
    expect(metrics).toMatch(/^batch_upstream_latency_seconds_count\{upstream="default"\} \d+/m);
    expect(metrics).toMatch(/^batch_upstream_in_flight\{upstream="default"\} 0$/m);
    expect(metrics).toMatch(/^batch_tokens_total\{upstream="default",model="gpt-test",kind="output"\} \d+/m);
  });

  it('fails a batch with one error per bad line, with 1-based lines, codes and params', async () => {
    const lines: (object | string)[] = [
      chatLine('good-1'),
      'not json at all',
      '[1,2,3]',
      { method: 'POST', url: '/v1/chat/completions', body: {} },
      { ...chatLine('wrong-url'), url: '/v1/embeddings' },
      { ...chatLine('wrong-method'), method: 'GET' },
      chatLine('good-1'),
      chatLine('streams', { stream: true }),
      chatLine('other-model', {}, 'another-model'),
      { custom_id: 'no-model', method: 'POST', url: '/v1/chat/completions', body: { messages: [] } },
      { custom_id: 'no-body', method: 'POST', url: '/v1/chat/completions' },
    ];
    const created = await client.batches.create({
      input_file_id: await uploadLines(client, lines),
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    const failed = await waitForStatus(client, created.id, ['failed', 'completed']);
    expect(failed.status).toBe('failed');
    expect(failed.failed_at).toEqual(expect.any(Number));
    expect(failed.output_file_id).toBeNull();
    expect(failed.errors!.data).toEqual([
      { code: 'invalid_json_line', line: 2, param: null, message: expect.any(String) },
      { code: 'invalid_json_line', line: 3, param: null, message: expect.any(String) },
      { code: 'missing_required_parameter', line: 4, param: 'custom_id', message: expect.any(String) },
      { code: 'invalid_url', line: 5, param: 'url', message: expect.any(String) },
      { code: 'invalid_method', line: 6, param: 'method', message: expect.any(String) },
      { code: 'duplicate_custom_id', line: 7, param: 'custom_id', message: expect.any(String) },
      { code: 'streaming_unsupported', line: 8, param: 'body.stream', message: expect.any(String) },
      { code: 'mismatched_model', line: 9, param: 'body.model', message: expect.any(String) },
      { code: 'invalid_request', line: 10, param: 'body.model', message: expect.any(String) },
      { code: 'missing_required_parameter', line: 11, param: 'body', message: expect.any(String) },
    ]);
  });

  it('accepts CRLF, a BOM and blank lines; rejects empty files and too many requests', async () => {
    const text =
      '\ufeff' + [chatLine('crlf-1'), chatLine('crlf-2')].map((l) => JSON.stringify(l)).join('\r\n\r\n') + '\r\n';
    const ok = await client.batches.create({
      input_file_id: await uploadLines(client, [text]),
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    expect((await waitForStatus(client, ok.id, ['completed', 'failed'])).request_counts).toEqual({
      total: 2,
      completed: 2,
      failed: 0,
    });

    const empty = await client.batches.create({
      input_file_id: await uploadLines(client, ['', '  ']),
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    expect((await waitForStatus(client, empty.id, ['failed', 'completed'])).errors?.data?.[0]?.code).toBe('empty_file');

    const many = await client.batches.create({
      input_file_id: await uploadLines(
        client,
        Array.from({ length: 31 }, (_, i) => chatLine(`m${i}`)),
      ),
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    const tooMany = await waitForStatus(client, many.id, ['failed', 'completed']);
    expect(tooMany.errors!.data).toEqual([
      { code: 'too_many_requests', line: null, param: null, message: expect.any(String) },
    ]);
  });

  it('cancels mid-run: counts move while running, finished results stay, the rest get batch_cancelled', async () => {
    sim.latencyMs = 250;
    const { ids, batch: created } = await createChatBatch(client, 'c', 30);
    const running = await waitForStatus(client, created.id, ['in_progress']);
    expect(running.in_progress_at).toEqual(expect.any(Number));
    expect(running.request_counts!.total).toBe(30);
    const moving = await waitForCompleted(client, created.id, 8);
    expect(moving.status).toBe('in_progress');

    const cancelling = await client.batches.cancel(created.id);
    expect(cancelling.status).toBe('cancelling');
    expect(cancelling.cancelling_at).toEqual(expect.any(Number));
    const t0 = Date.now();
    const cancelled = await waitForStatus(client, created.id, ['cancelled'], 30000);
    expect(Date.now() - t0).toBeLessThan(10000);
    expect(cancelled.cancelled_at).toEqual(expect.any(Number));

    const output = await readResults(client, cancelled.output_file_id);
    const errors = await readResults(client, cancelled.error_file_id);
    expectExactlyOnce(ids, output, errors);
    expect(output.length).toBeGreaterThanOrEqual(8);
    expect(output.length).toBeLessThan(30);
    expect(errors.every((e) => e.error?.code === 'batch_cancelled' && e.response === null)).toBe(true);
    expect(cancelled.request_counts).toEqual({ total: 30, completed: output.length, failed: 0 });

    // Cancel again: unchanged, 200.
    expect((await client.batches.cancel(created.id)).status).toBe('cancelled');
  });

  it('cancels right after create (during validating): every line ends as batch_cancelled or a result', async () => {
    sim.latencyMs = 100;
    const { ids, batch: created } = await createChatBatch(client, 'early', 12);
    const cancelling = await client.batches.cancel(created.id);
    expect(['cancelling', 'cancelled']).toContain(cancelling.status);
    const cancelled = await waitForStatus(client, created.id, ['cancelled', 'completed'], 30000);
    expect(cancelled.status).toBe('cancelled');
    const output = await readResults(client, cancelled.output_file_id);
    const errors = await readResults(client, cancelled.error_file_id);
    expectExactlyOnce(ids, output, errors);
    expect(errors.length).toBeGreaterThan(0);
  });

  it('answers 409 with x-should-retry: false when cancelling a finished batch', async () => {
    const created = await client.batches.create({
      input_file_id: await uploadLines(client, [chatLine('fin-1')]),
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    await waitForStatus(client, created.id, ['completed']);
    const err = await client.batches.cancel(created.id).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.ConflictError);
    expect(err.headers.get('x-should-retry')).toBe('false');
    expect(err.error.message).toMatch(/completed/);
  });

  it('validates create parameters and the input file at once', async () => {
    const fileId = await uploadLines(client, [chatLine('v-1')]);
    const base = {
      input_file_id: fileId,
      endpoint: '/v1/chat/completions' as const,
      completion_window: '24h' as const,
    };
    const bad = [
      { ...base, endpoint: '/v1/nope' },
      { ...base, completion_window: '48h' },
      { ...base, metadata: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v'])) },
      { ...base, metadata: { ['k'.repeat(65)]: 'v' } },
      { ...base, metadata: { k: 'v'.repeat(513) } },
      { ...base, metadata: { k: 1 } },
      { ...base, output_expires_after: { anchor: 'created_at', seconds: 60 } },
      { ...base, unknown_field: true },
      { endpoint: base.endpoint, completion_window: '24h' },
    ];
    for (const body of bad) {
      const err = await client.batches.create(body as never).catch((e) => e);
      expect({ body, status: err.status, type: err.error?.type }).toEqual({
        body,
        status: 400,
        type: 'invalid_request_error',
      });
    }
    const missing = await client.batches.create({ ...base, input_file_id: 'file-missing' }).catch((e) => e);
    expect(missing.status).toBe(404);
    expect(missing.error.message).toBe('No such File object: file-missing');

    const done = await waitForStatus(client, (await client.batches.create({ ...base })).id, ['completed']);
    const wrongPurpose = await client.batches.create({ ...base, input_file_id: done.output_file_id! }).catch((e) => e);
    expect(wrongPurpose.status).toBe(400);
    expect(wrongPurpose.error.param).toBe('input_file_id');

    const res = await fetch(`${stack.baseURL}/batches`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{not json',
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { type: string } }).error.type).toBe('invalid_request_error');
  });

  it('replays an Idempotency-Key create and refuses the key with other parameters', async () => {
    const fileId = await uploadLines(client, [chatLine('idem-1')]);
    const params = {
      input_file_id: fileId,
      endpoint: '/v1/chat/completions' as const,
      completion_window: '24h' as const,
    };
    const headers = { 'Idempotency-Key': `key-${Date.now()}` };
    const first = await client.batches.create(params, { headers });
    const second = await client.batches.create(params, { headers });
    expect(second.id).toBe(first.id);
    const err = await client.batches.create({ ...params, metadata: { x: 'y' } }, { headers }).catch((e) => e);
    expect(err.status).toBe(409);
  });

  it('lists newest first with pagination, and answers 404 for unknown or other owners’ batches', async () => {
    const own = await startStack({ UPSTREAM_BASE_URL: sim.baseUrl }, { worker: false });
    try {
      const c = own.client();
      const fileId = await uploadLines(c, [chatLine('l-1')]);
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        ids.push(
          (
            await c.batches.create({
              input_file_id: fileId,
              endpoint: '/v1/chat/completions',
              completion_window: '24h',
            })
          ).id,
        );
      }
      const page = await c.batches.list({ limit: 2 });
      expect(page.data.map((b) => b.id)).toEqual([ids[4], ids[3]]);
      expect(page.has_more).toBe(true);
      const next = await c.batches.list({ limit: 2, after: ids[3] });
      expect(next.data.map((b) => b.id)).toEqual([ids[2], ids[1]]);
      const all: string[] = [];
      for await (const b of c.batches.list({ limit: 2 })) all.push(b.id);
      expect(all).toEqual([...ids].reverse());
      await expect(c.batches.list({ limit: 101 })).rejects.toMatchObject({ status: 400 });

      const err = await c.batches.retrieve('batch_nope').catch((e) => e);
      expect(err.status).toBe(404);
      expect(err.error.message).toBe('No such Batch: batch_nope');
      await expect(c.batches.cancel('batch_nope')).rejects.toMatchObject({ status: 404 });
    } finally {
      await own.close();
    }
  });
});

/** Polls until at least `n` requests completed, returning that observation. */
async function waitForCompleted(client: OpenAI, id: string, n: number) {
  const deadline = Date.now() + 30000;
  for (;;) {
    const b = await client.batches.retrieve(id);
    if ((b.request_counts?.completed ?? 0) >= n) return b;
    if (Date.now() > deadline) throw new Error(`no progress: ${JSON.stringify(b)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('A batch cut into more chunks than MAX_CHUNKS_PER_BATCH', () => {
  const t = simulatedStack({}, { CHUNK_SIZE: '1', MAX_CHUNKS_PER_BATCH: '3', CHECKPOINT_INTERVAL_MS: '100' });

  it('joins neighbouring chunks (blank lines between them included) and runs every line once', async () => {
    const client = t.stack.client();
    const ids = Array.from({ length: 20 }, (_, i) => `join-${i}`);
    // Blank lines fall inside the joined chunks' byte ranges.
    const lines = ids.flatMap((id, i) => (i % 4 === 1 ? [chatLine(id), '', '  '] : [chatLine(id)]));
    const batch = await client.batches.create({
      input_file_id: await uploadLines(client, lines),
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    const done = await waitForStatus(client, batch.id, ['completed', 'failed'], 60000);
    expect(done.request_counts).toEqual({ total: 20, completed: 20, failed: 0 });
    const output = await readResults(client, done.output_file_id);
    expectExactlyOnce(ids, output, []);

    const connection = await Connection.connect({ address: t.stack.config.TEMPORAL_ADDRESS! });
    try {
      const history = await new Client({ connection }).workflow.getHandle(batch.id).fetchHistory();
      const chunks = history.events!.filter(
        (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'processChunk',
      );
      // 20 chunks of one line, joined into 3 of 6, 7 and 7.
      expect(chunks).toHaveLength(3);
    } finally {
      await connection.close();
    }
  });
});
