import type OpenAI from 'openai';
import { toFile } from 'openai';
import { chatLine, uploadLines, waitForStatus } from '../support/batch-helpers';
import { startStack, type Stack } from '../support/stack';
import { UpstreamSimulator } from '../support/upstream-simulator';

/** An HTTP request the corpus sends as it is, and what must come back. */
interface RequestCase {
  name: string;
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | FormData;
  status: number;
  type?: string;
  message?: RegExp;
}

const json = { 'content-type': 'application/json' };
const form = (fields: Record<string, string | [Blob, string]>) => {
  const f = new FormData();
  for (const [k, v] of Object.entries(fields)) {
    if (typeof v === 'string') f.append(k, v);
    else f.append(k, v[0], v[1]);
  }
  return f;
};
const line = JSON.stringify(chatLine('x')) + '\n';
const batchBody = (extra: Record<string, unknown>) =>
  JSON.stringify({ input_file_id: 'FILE', endpoint: '/v1/chat/completions', completion_window: '24h', ...extra });
let deep = '1';
for (let i = 0; i < 100000; i++) deep = `{"a":${deep}}`;

const requestCases: RequestCase[] = [
  { name: 'upload without a file', path: '/files', body: form({ purpose: 'batch' }), status: 400, message: /'file'/ },
  {
    name: 'upload without a purpose',
    path: '/files',
    body: form({ file: [new Blob([line]), 'a.jsonl'] }),
    status: 400,
    message: /purpose/,
  },
  {
    name: 'upload with purpose fine-tune',
    path: '/files',
    body: form({ purpose: 'fine-tune', file: [new Blob([line]), 'a.jsonl'] }),
    status: 400,
    message: /purpose/,
  },
  {
    name: 'upload of a .txt for batch',
    path: '/files',
    body: form({ purpose: 'batch', file: [new Blob([line]), 'a.txt'] }),
    status: 400,
    message: /\.jsonl/,
  },
  {
    name: 'upload with two files',
    path: '/files',
    body: (() => {
      const f = form({ purpose: 'batch', file: [new Blob([line]), 'a.jsonl'] });
      f.append('file', new Blob([line]), 'b.jsonl');
      return f;
    })(),
    status: 400,
  },
  {
    name: 'upload as JSON',
    path: '/files',
    headers: json,
    body: '{"purpose":"batch"}',
    status: 400,
    message: /multipart/,
  },
  {
    name: 'upload as text/plain',
    path: '/files',
    headers: { 'content-type': 'text/plain' },
    body: 'hello',
    status: 400,
  },
  {
    name: 'upload expires_after seconds below range',
    path: '/files',
    body: form({
      purpose: 'batch',
      'expires_after[anchor]': 'created_at',
      'expires_after[seconds]': '10',
      file: [new Blob([line]), 'a.jsonl'],
    }),
    status: 400,
    message: /3600/,
  },
  {
    name: 'upload expires_after seconds above range',
    path: '/files',
    body: form({
      purpose: 'batch',
      'expires_after[anchor]': 'created_at',
      'expires_after[seconds]': '2592001',
      file: [new Blob([line]), 'a.jsonl'],
    }),
    status: 400,
    message: /2592000/,
  },
  {
    name: 'upload expires_after with a bad anchor',
    path: '/files',
    body: form({
      purpose: 'batch',
      'expires_after[anchor]': 'now',
      'expires_after[seconds]': '3600',
      file: [new Blob([line]), 'a.jsonl'],
    }),
    status: 400,
  },
  {
    name: 'upload file with only control characters as name',
    path: '/files',
    body: form({ purpose: 'batch', file: [new Blob([line]), '\u0001\u0002'] }),
    status: 400,
  },
  { name: 'files list limit 0', method: 'GET', path: '/files?limit=0', status: 400 },
  { name: 'files list limit 10001', method: 'GET', path: '/files?limit=10001', status: 400 },
  { name: 'files list limit not a number', method: 'GET', path: '/files?limit=ten', status: 400 },
  { name: 'files list order sideways', method: 'GET', path: '/files?order=sideways', status: 400 },
  { name: 'file id that is not an id', method: 'GET', path: '/files/..%2F..%2Fetc%2Fpasswd', status: 404 },
  { name: 'file content of an unknown id', method: 'GET', path: '/files/file-unknown/content', status: 404 },
  { name: 'delete an unknown file', method: 'DELETE', path: '/files/file-unknown', status: 404 },
  {
    name: 'batch with unknown endpoint',
    path: '/batches',
    headers: json,
    body: batchBody({ endpoint: '/v1/nope' }),
    status: 400,
    message: /endpoint/,
  },
  {
    name: 'batch with window 48h',
    path: '/batches',
    headers: json,
    body: batchBody({ completion_window: '48h' }),
    status: 400,
    message: /24h/,
  },
  {
    name: 'batch with 17 metadata keys',
    path: '/batches',
    headers: json,
    body: batchBody({ metadata: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v'])) }),
    status: 400,
    message: /16/,
  },
  {
    name: 'batch with a 65-char metadata key',
    path: '/batches',
    headers: json,
    body: batchBody({ metadata: { ['k'.repeat(65)]: 'v' } }),
    status: 400,
    message: /64/,
  },
  {
    name: 'batch with a 513-char metadata value',
    path: '/batches',
    headers: json,
    body: batchBody({ metadata: { k: 'v'.repeat(513) } }),
    status: 400,
    message: /512/,
  },
  {
    name: 'batch with a non-string metadata value',
    path: '/batches',
    headers: json,
    body: batchBody({ metadata: { k: 1 } }),
    status: 400,
    message: /string/,
  },
  {
    name: 'batch with output_expires_after too short',
    path: '/batches',
    headers: json,
    body: batchBody({ output_expires_after: { anchor: 'created_at', seconds: 3599 } }),
    status: 400,
    message: /3600/,
  },
  {
    name: 'batch with output_expires_after too long',
    path: '/batches',
    headers: json,
    body: batchBody({ output_expires_after: { anchor: 'created_at', seconds: 2592001 } }),
    status: 400,
  },
  {
    name: 'batch with an unknown field',
    path: '/batches',
    headers: json,
    body: batchBody({ priority: 'high' }),
    status: 400,
    message: /Unrecognized/,
  },
  {
    name: 'batch without input_file_id',
    path: '/batches',
    headers: json,
    body: JSON.stringify({ endpoint: '/v1/chat/completions', completion_window: '24h' }),
    status: 400,
    message: /input_file_id/,
  },
  {
    name: 'batch with an unknown input file',
    path: '/batches',
    headers: json,
    body: batchBody({ input_file_id: 'file-nope' }),
    status: 404,
    message: /No such File object: file-nope/,
  },
  { name: 'batch body that is not JSON', path: '/batches', headers: json, body: '{oops', status: 400, message: /JSON/ },
  { name: 'batch body that is an array', path: '/batches', headers: json, body: '[]', status: 400 },
  {
    name: 'batch body that is deeply nested',
    path: '/batches',
    headers: json,
    body: batchBody({ metadata: { k: 'v' } }).replace(/}$/, `,"deep":${deep}}`),
    status: 400,
  },
  {
    name: 'batch body with a huge string',
    path: '/batches',
    headers: json,
    body: batchBody({ metadata: { k: 'x'.repeat(600_000) } }),
    status: 400,
    message: /512/,
  },
  { name: 'batch body as form data', path: '/batches', body: form({ input_file_id: 'x' }), status: 400 },
  { name: 'batches list limit 0', method: 'GET', path: '/batches?limit=0', status: 400 },
  { name: 'batches list limit 101', method: 'GET', path: '/batches?limit=101', status: 400 },
  { name: 'batches list with an unknown after', method: 'GET', path: '/batches?after=batch_nope', status: 200 },
  { name: 'retrieve an id that is not an id', method: 'GET', path: '/batches/%00%01', status: 404 },
  {
    name: 'cancel an unknown batch',
    path: '/batches/batch_nope/cancel',
    status: 404,
    message: /No such Batch: batch_nope/,
  },
  { name: 'unknown route', method: 'GET', path: '/assistants', status: 404, message: /Invalid URL/ },
  { name: 'wrong method on a route', method: 'PUT', path: '/batches', status: 404 },
];

/** A file's content whose batch must fail validation with `code` (or, with `ok`, complete). */
interface ContentCase {
  name: string;
  content: Buffer | string;
  code?: string;
  line?: number | null;
}

const good = (id: string) => JSON.stringify(chatLine(id));
const contentCases: ContentCase[] = [
  {
    name: 'truncated last line',
    content: `${good('a')}\n{"custom_id":"b","method":"PO`,
    code: 'invalid_json_line',
    line: 2,
  },
  { name: 'a JSON array line', content: `${good('a')}\n[1]\n`, code: 'invalid_json_line', line: 2 },
  { name: 'a JSON string line', content: `"hello"\n`, code: 'invalid_json_line', line: 1 },
  {
    name: 'invalid UTF-8',
    content: Buffer.concat([
      Buffer.from(`${good('a')}\n{"custom_id":"`),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('","method":"POST"}\n'),
    ]),
    code: 'invalid_json_line',
    line: 2,
  },
  { name: 'a NUL byte', content: `${good('a')}\n\u0000\n`, code: 'invalid_json_line', line: 2 },
  {
    name: 'custom_id a number',
    content: JSON.stringify({ ...chatLine('a'), custom_id: 5 }) + '\n',
    code: 'missing_required_parameter',
    line: 1,
  },
  {
    name: 'body a string',
    content: JSON.stringify({ ...chatLine('a'), body: 'hi' }) + '\n',
    code: 'missing_required_parameter',
    line: 1,
  },
  { name: 'only blank lines', content: '\n\n   \n', code: 'empty_file', line: null },
  { name: 'an empty file', content: '', code: 'empty_file', line: null },
  {
    // Only the file's first line may start with a BOM: a second one is not JSON, and no chunk could parse it.
    name: 'a BOM starting a line past the first',
    content: `${good('a')}\n\ufeff${good('b')}\n`,
    code: 'invalid_json_line',
    line: 2,
  },
  { name: 'a BOM, CRLF and blank lines (valid)', content: `\ufeff${good('a')}\r\n\r\n${good('b')}\r\n` },
  {
    name: 'a 10 MB single line (valid)',
    content: JSON.stringify(chatLine('big', { user: 'u'.repeat(10 * 1024 * 1024) })) + '\n',
  },
];

describe('hostile input corpus', () => {
  let sim: UpstreamSimulator;
  let stack: Stack;
  let client: OpenAI;
  let fileId: string;
  const counts = async () => {
    const db = stack.storage.db.kysely;
    const f = await db
      .selectFrom('files')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    const b = await db
      .selectFrom('batches')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    return { files: Number(f.n), batches: Number(b.n) };
  };

  beforeAll(async () => {
    sim = await UpstreamSimulator.start();
    stack = await startStack({ UPSTREAM_BASE_URL: sim.baseUrl, MAX_BATCH_REQUESTS: '50000' });
    client = stack.client();
    fileId = await uploadLines(client, [chatLine('seed')]);
  });
  afterAll(async () => {
    await stack.close();
    await sim.close();
  });

  it.each(requestCases)('$name -> $status', async (c) => {
    const before = await counts();
    const body = typeof c.body === 'string' ? c.body.replace('"FILE"', JSON.stringify(fileId)) : c.body;
    const res = await fetch(`${stack.baseURL}${c.path}`, { method: c.method ?? 'POST', headers: c.headers, body });
    expect(res.status).toBe(c.status);
    expect(res.headers.get('x-request-id')).toMatch(/^req_/);
    const answer = (await res.json()) as { error?: { message: string; type: string; param: unknown; code: unknown } };
    if (c.status >= 400) {
      expect(Object.keys(answer.error!).sort()).toEqual(['code', 'message', 'param', 'type']);
      expect(answer.error!.type).toBe(c.type ?? 'invalid_request_error');
      for (const k of ['param', 'code'] as const)
        expect([null, 'string']).toContain(answer.error![k] === null ? null : typeof answer.error![k]);
      expect(answer.error!.message.length).toBeGreaterThan(5);
      if (c.message) expect(answer.error!.message).toMatch(c.message);
    }
    expect(await counts()).toEqual(before);
    expect((await fetch(stack.baseURL.replace('/v1', '/healthz'))).status).toBe(200);
  });

  it.each(contentCases)('content: $name', async (c) => {
    const id = (await client.files.create({ file: await toFile(Buffer.from(c.content), 'c.jsonl'), purpose: 'batch' }))
      .id;
    const created = await client.batches.create({
      input_file_id: id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    const done = await waitForStatus(client, created.id, ['failed', 'completed'], 60000);
    if (!c.code) {
      expect(done.status).toBe('completed');
      expect(done.request_counts!.failed).toBe(0);
      return;
    }
    expect(done.status).toBe('failed');
    expect(done.errors!.data![0]).toMatchObject({ code: c.code, line: c.line });
  });

  it('content: 50,001 lines fail with too_many_requests', async () => {
    const lines = Array.from(
      { length: 50001 },
      (_, i) => `{"custom_id":"r${i}","method":"POST","url":"/v1/chat/completions","body":{"model":"m"}}`,
    );
    const id = await uploadLines(client, lines);
    const created = await client.batches.create({
      input_file_id: id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    const done = await waitForStatus(client, created.id, ['failed', 'completed'], 60000);
    expect(done.errors!.data).toEqual([expect.objectContaining({ code: 'too_many_requests', line: null })]);
  });

  it('content: a 5,000-character model fails validation with model_too_long instead of staying validating', async () => {
    const id = await uploadLines(client, [chatLine('a', {}, 'm'.repeat(5000)), chatLine('b', {}, 'm'.repeat(5000))]);
    const created = await client.batches.create({
      input_file_id: id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    const done = await waitForStatus(client, created.id, ['failed', 'completed', 'in_progress'], 30000);
    expect(done.status).toBe('failed');
    expect(done.errors!.data![0]).toMatchObject({ code: 'model_too_long', param: 'body.model', line: 1 });
    expect(done.errors!.data![0].message!.length).toBeLessThan(300);
  });

  it('content: a custom_id over 512 characters fails validation with custom_id_too_long', async () => {
    const id = await uploadLines(client, [chatLine('ok'), chatLine('c'.repeat(513))]);
    const created = await client.batches.create({
      input_file_id: id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    const done = await waitForStatus(client, created.id, ['failed', 'completed'], 30000);
    expect(done.status).toBe('failed');
    expect(done.errors!.data).toEqual([
      expect.objectContaining({ code: 'custom_id_too_long', param: 'custom_id', line: 2 }),
    ]);
    expect(done.errors!.data![0].message!.length).toBeLessThan(300);
  });

  it('content: 1,000 bad lines quoting 5 KB values keep errors and the Batch object small', async () => {
    const huge = 'X'.repeat(5000);
    const lines = Array.from({ length: 1000 }, (_, i) => ({ ...chatLine(`q${i}`), method: huge, url: huge }));
    const id = await uploadLines(client, lines);
    const created = await client.batches.create({
      input_file_id: id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    const done = await waitForStatus(client, created.id, ['failed', 'completed'], 60000);
    expect(done.status).toBe('failed');
    const raw = await fetch(`${stack.baseURL}/batches/${created.id}`, {
      headers: { authorization: 'Bearer test-key' },
    });
    const text = await raw.text();
    expect(text.length).toBeLessThan(150_000);
    const errors = done.errors!.data!;
    expect(errors.length).toBeGreaterThan(100);
    expect(errors.length).toBeLessThanOrEqual(1000);
    for (const e of errors) {
      expect(e.code).toBe('invalid_method');
      expect(e.message!.length).toBeLessThan(300);
      expect(e.message).toContain('...');
    }
  });

  it('content: more than 1,000 bad lines report the first 1,000', async () => {
    const id = await uploadLines(
      client,
      Array.from({ length: 1500 }, () => 'nope'),
    );
    const created = await client.batches.create({
      input_file_id: id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    const done = await waitForStatus(client, created.id, ['failed'], 60000);
    expect(done.errors!.data).toHaveLength(1000);
    expect(done.errors!.data![999].line).toBe(1000);
  });
});
