import type OpenAI from 'openai';
import type { Batch } from 'openai/resources/batches';
import { chatLine, uploadLines, waitForStatus } from '../support/batch-helpers';
import { expectConsistentEnd } from '../support/expectations';
import { pollUntil } from '../support/maintenance';
import { startStack, type Stack } from '../support/stack';
import { UpstreamSimulator } from '../support/upstream-simulator';
import { WebhookReceiver } from '../support/webhook-receiver';

const SECRET = 'whsec_' + Buffer.from('fault-matrix-secret-0123').toString('base64');
const WINDOW_SECONDS = 12;
const FINAL = ['completed', 'failed', 'expired', 'cancelled'];

/** A request that answers after `ms`. */
const slow = (id: string, ms: number) => chatLine(id, { x_sim: { latency_ms: ms } });

interface Scenario {
  name: string;
  lines: (object | string)[];
  expected: string;
  /** Acts on the batch once created (a cancel). */
  act?: (client: OpenAI, batch: Batch) => Promise<void>;
}

const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

/** The lifecycle matrix: one batch per path a batch can take. */
const SCENARIOS: Scenario[] = [
  { name: 'happy', lines: ids('happy', 30).map((id) => chatLine(id)), expected: 'completed' },
  {
    name: 'upstream errors',
    lines: [
      ...ids('ok', 10).map((id) => chatLine(id)),
      ...ids('bad', 5).map((id) => chatLine(id, { x_sim: { always: { status: 400 } } })),
      ...ids('down', 5).map((id) => chatLine(id, { x_sim: { always: { status: 503 } } })),
    ],
    expected: 'completed',
  },
  { name: 'validation failure', lines: [chatLine('v-0'), '{"custom_id": "v-1"'], expected: 'failed' },
  {
    name: 'cancel while validating',
    lines: ids('cv', 20).map((id) => chatLine(id)),
    expected: 'cancelled',
    act: async (client, batch) => void (await client.batches.cancel(batch.id)),
  },
  {
    name: 'cancel in progress',
    lines: [...ids('cp-fast', 3).map((id) => chatLine(id)), ...ids('cp-slow', 4).map((id) => slow(id, 60000))],
    expected: 'cancelled',
    act: async (client, batch) => {
      await pollUntil(
        () => client.batches.retrieve(batch.id),
        (b) => (b.request_counts?.completed ?? 0) >= 3,
        30000,
      );
      await client.batches.cancel(batch.id);
    },
  },
  {
    name: 'expiry',
    lines: [...ids('ex-fast', 3).map((id) => chatLine(id)), ...ids('ex-slow', 3).map((id) => slow(id, 60000))],
    expected: 'expired',
  },
];

/** The activity types a fault is injected into, one stack each; "none" is the matrix without faults. */
const FAULTED = ['none', 'validateInput', 'transition', 'processChunk', 'finalize', 'notifyWebhook'];

const table: string[] = [];

/**
 * Every activity may run again after its work committed (a lost completion, a worker killed after the commit).
 * With FAULT_INJECT_AFTER_COMMIT, the first attempt of each activity of that type throws a retryable error after its
 * work is done; every batch must still end as it would have, with every line once and counts that match the files.
 */
describe.each(FAULTED)('lifecycle matrix with a fault after commit in %s', (faulted) => {
  let sim: UpstreamSimulator;
  let receiver: WebhookReceiver;
  let stack: Stack;

  beforeAll(async () => {
    sim = await UpstreamSimulator.start();
    receiver = await WebhookReceiver.start(SECRET);
    stack = await startStack({
      UPSTREAM_BASE_URL: sim.baseUrl,
      UPSTREAM_CONCURRENCY: '16',
      MAX_CONCURRENT_UPLOADS: '16',
      UPSTREAM_MAX_RETRIES: '1',
      UPSTREAM_RETRY_BASE_MS: '10',
      COMPLETION_WINDOW_SECONDS: String(WINDOW_SECONDS),
      CHUNK_SIZE: '4',
      CHECKPOINT_INTERVAL_MS: '100',
      WEBHOOK_URL: receiver.url,
      WEBHOOK_SECRET: SECRET,
      WEBHOOK_RETRY_INITIAL_MS: '50',
      ...(faulted === 'none' ? {} : { FAULT_INJECT_AFTER_COMMIT: faulted }),
    });
  });
  afterAll(async () => {
    await stack?.close();
    await receiver?.close();
    await sim?.close();
  });

  it('every scenario ends as expected, every line once, counts equal to the files, one event per end', async () => {
    const client = stack.client();
    const results = await Promise.all(
      SCENARIOS.map(async (s) => {
        const batch = await client.batches.create({
          input_file_id: await uploadLines(client, s.lines, `${s.name.replace(/ /g, '-')}.jsonl`),
          endpoint: '/v1/chat/completions',
          completion_window: '24h',
        });
        await s.act?.(client, batch);
        return { s, done: await waitForStatus(client, batch.id, FINAL, 60000) };
      }),
    );
    const row: string[] = [];
    for (const { s, done } of results) {
      expect({ scenario: s.name, status: done.status }).toEqual({ scenario: s.name, status: s.expected });
      if (done.status === 'failed') {
        expect(done.errors?.data?.[0]).toMatchObject({ code: 'invalid_json_line', line: 2 });
      } else {
        const lineIds = s.lines.map((l) => (l as { custom_id: string }).custom_id);
        await expectConsistentEnd(client, done, lineIds);
      }
      // Working files are gone once the batch has ended, whichever attempt of finalize got there.
      expect(await stack.storage.blobs.readBuffer(`batches/${done.id}/index.json`)).toBeUndefined();
      expect(await stack.storage.batches.chunkProgress(done.id)).toMatchObject({ completed: 0, failed: 0 });
      // The end is announced: at least once, always under the same event id, with the end status.
      const events = await pollUntil(
        async () => receiver.about(done.id),
        (d) => d.length > 0,
      );
      expect(new Set(events.map((e) => e.webhookId)).size).toBe(1);
      expect(new Set(events.map((e) => e.event.type))).toEqual(new Set([`batch.${s.expected}`]));
      expect(events.every((e) => e.verified)).toBe(true);
      const c = done.request_counts!;
      row.push(`${s.name}: ${done.status} ${c.completed}/${c.failed}/${c.total}`);
    }
    table.push(`${faulted}: ${row.join('; ')}`);
  });
});

afterAll(() =>
  console.log(`fault matrix (activity faulted after commit -> end state completed/failed/total):\n${table.join('\n')}`),
);
