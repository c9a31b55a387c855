import type OpenAI from 'openai';
import { APIError } from 'openai';
import type { Batch } from 'openai/resources/batches';
import { chatLine, uploadLines, waitForStatus } from '../support/batch-helpers';
import { startStack, type Stack } from '../support/stack';
import { UpstreamSimulator } from '../support/upstream-simulator';
import { spawnWorker, type WorkerProcess } from '../support/worker-process';

const FINAL = ['completed', 'failed', 'expired', 'cancelled'];

/** One page of `GET /v1/batches/{id}/results` through the official client. */
interface Page {
  lines: string[];
  next: string;
  complete: boolean;
  contentType: string | null;
}

async function resultsPage(client: OpenAI, id: string, after?: string): Promise<Page> {
  const res = await client.get(`/batches/${id}/results`, { query: after ? { after } : {} }).asResponse();
  const text = await res.text();
  return {
    lines: text === '' ? [] : text.replace(/\n$/, '').split('\n'),
    next: res.headers.get('x-next-cursor')!,
    complete: res.headers.get('x-batch-complete') === 'true',
    contentType: res.headers.get('content-type'),
  };
}

/** Every line of the batch's output and error files, as text. */
async function fileLines(client: OpenAI, batch: Batch): Promise<string[]> {
  const lines: string[] = [];
  for (const id of [batch.output_file_id, batch.error_file_id]) {
    if (!id) continue;
    const text = await (await client.files.content(id)).text();
    lines.push(...text.split('\n').filter((l) => l !== ''));
  }
  return lines;
}

/**
 * Tails a batch's results until the API says every line was served, calling `onPage` after each page; returns every
 * line served and how many were served while the batch was not yet final.
 */
async function tail(client: OpenAI, id: string, onPage: (served: number) => Promise<void> = async () => undefined) {
  const served: string[] = [];
  let whileRunning = 0;
  let cursor: string | undefined;
  for (;;) {
    const status = (await client.batches.retrieve(id)).status;
    const page = await resultsPage(client, id, cursor);
    expect(page.next).toBeTruthy();
    served.push(...page.lines);
    if (!FINAL.includes(status)) whileRunning += page.lines.length;
    cursor = page.next;
    if (page.complete) return { served, whileRunning, cursor };
    await onPage(served.length);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('results while running: GET /v1/batches/{id}/results', () => {
  let sim: UpstreamSimulator;
  let stack: Stack;
  let worker: WorkerProcess | undefined;

  beforeAll(async () => {
    sim = await UpstreamSimulator.start({ latencyMs: 40 });
    stack = await startStack(
      {
        UPSTREAM_BASE_URL: sim.baseUrl,
        UPSTREAM_CONCURRENCY: '8',
        CHUNK_SIZE: '60',
        CHUNK_WINDOW: '4',
        CHECKPOINT_INTERVAL_MS: '200',
        CHUNK_HEARTBEAT_TIMEOUT_MS: '3000',
        UPSTREAM_MAX_RETRIES: '0',
      },
      { worker: false },
    );
    worker = await spawnWorker(stack.config);
  });
  afterAll(async () => {
    await worker?.kill('SIGKILL');
    await stack.close();
    await sim.close();
  });

  it('a client tails a batch while its worker is killed twice: every line of the final files, each once', async () => {
    const client = stack.client();
    // One line in ten fails upstream (400), so the tail carries output and error lines.
    const lines = Array.from({ length: 900 }, (_, i) =>
      chatLine(`t-${i}`, i % 10 === 3 ? { x_sim: { key: `t-${i}`, always: { status: 400 } } } : {}),
    );
    const batch = await client.batches.create({
      input_file_id: await uploadLines(client, lines),
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    const kills = [150, 450];
    const { served, whileRunning } = await tail(client, batch.id, async (n) => {
      if (kills.length > 0 && n >= kills[0]) {
        kills.shift();
        await worker!.kill('SIGKILL');
        worker = await spawnWorker(stack.config);
      }
    });
    expect(kills).toEqual([]);
    const done = await client.batches.retrieve(batch.id);
    expect(done.status).toBe('completed');
    expect(done.request_counts).toEqual({ total: 900, completed: 810, failed: 90 });
    // Exactly the files' lines, each once; most of them served before the batch ended.
    const files = await fileLines(client, done);
    expect(files).toHaveLength(900);
    expect([...served].sort()).toEqual([...files].sort());
    expect(new Set(served.map((l) => (JSON.parse(l) as { custom_id: string }).custom_id)).size).toBe(900);
    expect(whileRunning).toBeGreaterThanOrEqual(450);
    console.log(`results test: ${whileRunning} of 900 lines served while the batch ran`);
  });

  it('a cancelled batch: finished lines while it runs, then its batch_cancelled lines once it ends', async () => {
    const client = stack.client();
    sim.latencyMs = 150;
    try {
      const lines = Array.from({ length: 300 }, (_, i) => chatLine(`c-${i}`));
      const batch = await client.batches.create({
        input_file_id: await uploadLines(client, lines),
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
      });
      let cancelled = false;
      const { served, cursor } = await tail(client, batch.id, async (n) => {
        if (!cancelled && n >= 40) {
          cancelled = true;
          await client.batches.cancel(batch.id);
        }
      });
      const done = await client.batches.retrieve(batch.id);
      expect(done.status).toBe('cancelled');
      const files = await fileLines(client, done);
      expect(files).toHaveLength(300);
      expect([...served].sort()).toEqual([...files].sort());
      expect(served.filter((l) => l.includes('"batch_cancelled"')).length).toBe(
        done.request_counts!.total - done.request_counts!.completed - done.request_counts!.failed,
      );
      // After the end: nothing more, still complete.
      const again = await resultsPage(client, batch.id, cursor);
      expect(again).toMatchObject({ lines: [], complete: true });
      // From the start once ended: every line in one page.
      const whole = await resultsPage(client, batch.id);
      expect(whole.complete).toBe(true);
      expect([...whole.lines].sort()).toEqual([...files].sort());
    } finally {
      sim.latencyMs = 40;
    }
  });

  it('answers in every status, and refuses cursors it did not hand out', async () => {
    const client = stack.client();
    // A batch that fails validation: no lines, complete at once.
    const failed = await client.batches.create({
      input_file_id: await uploadLines(client, ['not json']),
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    const first = await resultsPage(client, failed.id);
    expect(first.contentType).toMatch(/^application\/jsonl/);
    expect(first.lines).toEqual([]);
    await waitForStatus(client, failed.id, ['failed']);
    expect(await resultsPage(client, failed.id, first.next)).toMatchObject({ lines: [], complete: true });

    const batch = await client.batches.create({
      input_file_id: await uploadLines(client, [chatLine('one'), chatLine('two')]),
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    const done = await waitForStatus(client, batch.id, FINAL);
    const page = await resultsPage(client, batch.id);
    expect(page.complete).toBe(true);
    expect([...page.lines].sort()).toEqual((await fileLines(client, done)).sort());

    const refused = async (id: string, after: string, code: string | null, status: number) => {
      const err = (await resultsPage(client, id, after).catch((e: unknown) => e)) as APIError;
      expect(err).toBeInstanceOf(APIError);
      expect(err.status).toBe(status);
      expect(err.code).toBe(code);
    };
    // Garbage, a cursor of another batch, an unknown batch.
    await refused(batch.id, 'not-a-cursor', 'invalid_cursor', 400);
    await refused(batch.id, first.next, 'invalid_cursor', 400);
    await refused(batch.id, Buffer.from('x|1.2').toString('base64url'), 'invalid_cursor', 400);
    await refused('batch_missing', page.next, null, 404);
  });
});
