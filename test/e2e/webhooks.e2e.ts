import { Client, Connection } from '@temporalio/client';
import type { Batch } from 'openai/resources/batches';
import { webhookEventId } from '../../activities/notify-webhook';
import { chatLine, createChatBatch, uploadLines, waitForStatus } from '../support/batch-helpers';
import { startStack, type Stack } from '../support/stack';
import { UpstreamSimulator } from '../support/upstream-simulator';
import { WebhookReceiver, type WebhookDelivery } from '../support/webhook-receiver';

const SECRET = 'test-webhook-secret-0123456789';
const WHSEC = `whsec_${Buffer.from('another secret, in the whsec_ form').toString('base64')}`;

/**
 * A receiver that looks the batch up through the API before answering (to see that its status is final), and
 * answers what the batch's `webhook_answers` metadata lists per attempt ("500,500,200"), else 200.
 */
function receiverFor(stack: () => Stack, secret: string): Promise<WebhookReceiver> {
  return WebhookReceiver.start(secret, async (d) => {
    const batch = await stack().client().batches.retrieve(d.event.data.id);
    const plan = (d.event.data.metadata?.webhook_answers ?? '').split(',').filter(Boolean).map(Number);
    return { status: plan[d.attempt - 1] ?? 200, seen: batch.status };
  });
}

/** Slow chat lines, so the batch is still in progress when a cancel or the window's end arrives. */
const slowLines = (prefix: string, n: number) =>
  Array.from({ length: n }, (_, i) => chatLine(`${prefix}-${i}`, { x_sim: { latency_ms: 30000 } }));

describe('webhooks', () => {
  let sim: UpstreamSimulator;
  let stack: Stack;
  let receiver: WebhookReceiver;
  let connection: Connection;
  let temporal: Client;

  beforeAll(async () => {
    sim = await UpstreamSimulator.start();
    receiver = await receiverFor(() => stack, SECRET);
    stack = await startStack({
      UPSTREAM_BASE_URL: sim.baseUrl,
      WEBHOOK_URL: receiver.url,
      WEBHOOK_SECRET: SECRET,
      WEBHOOK_RETRY_INITIAL_MS: '100',
      WEBHOOK_RETRY_MAX_MS: '1000',
      CHECKPOINT_INTERVAL_MS: '100',
    });
    connection = await Connection.connect({ address: stack.config.TEMPORAL_ADDRESS! });
    temporal = new Client({ connection });
  });
  afterAll(async () => {
    await connection?.close();
    await stack?.close();
    await receiver?.close();
    await sim?.close();
  });

  /** Waits until the batch's workflow has closed: every delivery it made (or gave up on) is over by then. */
  const settled = (batchId: string) => temporal.workflow.getHandle(batchId).result() as Promise<{ status: string }>;

  /** Exactly one delivery for the batch: the right event, verified, sent once the store held the end state. */
  async function expectOneEvent(r: WebhookReceiver, batch: Batch, type: string): Promise<WebhookDelivery> {
    const [d, ...more] = r.about(batch.id);
    expect(more).toEqual([]);
    expect(d).toMatchObject({ verified: true, verifiedBySdk: true, answer: 200, seen: batch.status });
    expect(d.webhookId).toBe(webhookEventId(batch.id, type as never));
    expect(d.event).toMatchObject({ id: d.webhookId, object: 'event', type, data: { id: batch.id } });
    const endedAt: Record<string, number | null | undefined> = {
      completed: batch.completed_at,
      failed: batch.failed_at,
      expired: batch.expired_at,
      cancelled: batch.cancelled_at,
    };
    expect(d.event.created_at).toBe(endedAt[batch.status]);
    // The whole Batch rides along, exactly as the API shows it.
    expect(d.event.data).toEqual(JSON.parse(JSON.stringify(batch)));
    return d;
  }

  it('a completed batch: one batch.completed event, signed, with the Batch object', async () => {
    const client = stack.client();
    const { batch } = await createChatBatch(client, 'ok', 3);
    expect(await settled(batch.id)).toMatchObject({ status: 'completed' });
    const done = await client.batches.retrieve(batch.id);
    await expectOneEvent(receiver, done, 'batch.completed');
    expect(done.request_counts).toEqual({ total: 3, completed: 3, failed: 0 });
  });

  it('a batch that fails validation: one batch.failed event with its errors', async () => {
    const client = stack.client();
    const batch = await client.batches.create({
      input_file_id: await uploadLines(client, ['this is not json']),
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    expect(await settled(batch.id)).toEqual({ status: 'failed' });
    const failed = await client.batches.retrieve(batch.id);
    const d = await expectOneEvent(receiver, failed, 'batch.failed');
    expect(d.event.data.errors?.data[0]).toMatchObject({ code: 'invalid_json_line', line: 1 });
  });

  it('a cancelled batch: one batch.cancelled event', async () => {
    const client = stack.client();
    const batch = await client.batches.create({
      input_file_id: await uploadLines(client, slowLines('c', 4)),
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    await waitForStatus(client, batch.id, ['in_progress'], 30000);
    await client.batches.cancel(batch.id);
    expect(await settled(batch.id)).toMatchObject({ status: 'cancelled' });
    await expectOneEvent(receiver, await client.batches.retrieve(batch.id), 'batch.cancelled');
  });

  it('a receiver answering 500 twice: the same event three times, the batch final before the first', async () => {
    const client = stack.client();
    const before = await deliveryCounts(stack);
    const batch = await client.batches.create({
      input_file_id: await uploadLines(client, [chatLine('r-0')]),
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
      metadata: { webhook_answers: '500,500,200' },
    });
    expect(await settled(batch.id)).toMatchObject({ status: 'completed' });
    const deliveries = receiver.about(batch.id);
    expect(deliveries.map((d) => d.answer)).toEqual([500, 500, 200]);
    expect(deliveries.map((d) => d.attempt)).toEqual([1, 2, 3]);
    // Each retry waited its backoff (at least half of WEBHOOK_RETRY_INITIAL_MS, with jitter).
    for (let i = 1; i < 3; i++) {
      expect(deliveries[i].receivedAt - deliveries[i - 1].receivedAt).toBeGreaterThanOrEqual(50);
    }
    expect(new Set(deliveries.map((d) => d.webhookId))).toEqual(new Set([webhookEventId(batch.id, 'batch.completed')]));
    // The same event each time (a receiver de-duplicates on webhook-id), each attempt signed afresh.
    expect(new Set(deliveries.map((d) => d.body)).size).toBe(1);
    for (const d of deliveries) expect(d).toMatchObject({ verified: true, verifiedBySdk: true, seen: 'completed' });
    const after = await deliveryCounts(stack);
    expect(after.retry - before.retry).toBe(2);
    expect(after.delivered - before.delivered).toBe(1);
  });

  it('a receiver answering 400: not retried, and the batch stays completed', async () => {
    const client = stack.client();
    const before = await deliveryCounts(stack);
    const batch = await client.batches.create({
      input_file_id: await uploadLines(client, [chatLine('n-0')]),
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
      metadata: { webhook_answers: '400' },
    });
    expect(await settled(batch.id)).toMatchObject({ status: 'completed' });
    expect(receiver.about(batch.id).map((d) => d.answer)).toEqual([400]);
    expect((await client.batches.retrieve(batch.id)).status).toBe('completed');
    const after = await deliveryCounts(stack);
    expect(after.rejected - before.rejected).toBe(1);
    expect(after.retry - before.retry).toBe(0);
  });

  it('an expired batch: one batch.expired event (a whsec_ secret, a 3-second window)', async () => {
    let short: Stack | undefined;
    const shortReceiver = await receiverFor(() => short!, WHSEC);
    try {
      short = await startStack({
        UPSTREAM_BASE_URL: sim.baseUrl,
        WEBHOOK_URL: shortReceiver.url,
        WEBHOOK_SECRET: WHSEC,
        COMPLETION_WINDOW_SECONDS: '3',
        CHECKPOINT_INTERVAL_MS: '100',
      });
      const client = short.client();
      const batch = await client.batches.create({
        input_file_id: await uploadLines(client, slowLines('x', 4)),
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
      });
      expect(await settled(batch.id)).toMatchObject({ status: 'expired' });
      await expectOneEvent(shortReceiver, await client.batches.retrieve(batch.id), 'batch.expired');
    } finally {
      await short?.close();
      await shortReceiver.close();
    }
  });
});

/** batch_webhook_deliveries_total for batch.completed, by outcome, from the API's /metrics. */
async function deliveryCounts(stack: Stack): Promise<Record<'delivered' | 'retry' | 'rejected', number>> {
  const text = await (await fetch(stack.baseURL.replace(/\/v1$/, '/metrics'))).text();
  const read = (outcome: string) => {
    const line = text
      .split('\n')
      .find((l) => l.startsWith(`batch_webhook_deliveries_total{type="batch.completed",outcome="${outcome}"}`));
    return line ? Number(line.split(' ').pop()) : 0;
  };
  return { delivered: read('delivered'), retry: read('retry'), rejected: read('rejected') };
}
