import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { toBatchObject } from '../src/batch-format/batch-object';
import type { BatchRow } from '../src/storage/batch.store';
import { WebhookReceiver } from '../test/support/webhook-receiver';
import type { ActivityDeps } from './deps';
import { makeNotifyWebhook, webhookEventId } from './notify-webhook';
import { WebhookSender } from '../src/webhooks/webhook-sender';

const SECRET = 'a-secret-for-the-spec';
const quiet = new DefaultLogger('ERROR');

const row = (patch: Partial<BatchRow> = {}): BatchRow => ({
  seq: 1,
  id: 'batch_spec',
  owner: 'default',
  endpoint: '/v1/chat/completions',
  model: 'gpt-test',
  input_file_id: 'file-in',
  completion_window: '24h',
  status: 'completed',
  output_file_id: 'file-out',
  error_file_id: null,
  errors: null,
  created_at: 1000,
  in_progress_at: 1001,
  expires_at: 87400,
  finalizing_at: 1002,
  completed_at: 1003,
  failed_at: null,
  expired_at: null,
  cancelling_at: null,
  cancelled_at: null,
  total: 2,
  completed: 2,
  failed: 0,
  usage: null,
  metadata: '{"team":"a"}',
  output_expires_seconds: null,
  idempotency_key: null,
  request_hash: null,
  admitted_requests: null,
  estimated_tokens: null,
  ...patch,
});

describe('notifyWebhook', () => {
  let receiver: WebhookReceiver;
  let sender: WebhookSender;
  const answer = { status: 200 };
  let batch: BatchRow | undefined;

  beforeAll(async () => {
    receiver = await WebhookReceiver.start(SECRET, async () => ({ status: answer.status }));
    sender = new WebhookSender({
      url: receiver.url,
      secret: SECRET,
      timeoutMs: 1000,
      retryInitialMs: 100,
      retryMaxMs: 5000,
    });
  });
  afterAll(async () => {
    await sender.close();
    await receiver.close();
  });
  beforeEach(() => {
    answer.status = 200;
    batch = row();
  });

  const deps = (webhook: WebhookSender | null = sender) =>
    ({ batches: { getById: async () => batch }, webhook: webhook ?? undefined }) as unknown as ActivityDeps;
  const run = (d: ActivityDeps, type: Parameters<ReturnType<typeof makeNotifyWebhook>>[0]['type'], attempt = 1) =>
    new MockActivityEnvironment({ attempt }, { logger: quiet }).run(makeNotifyWebhook(d), {
      batchId: 'batch_spec',
      type,
    });
  const failure = (p: Promise<unknown>) =>
    p.then(
      () => {
        throw new Error('expected a failure');
      },
      (err: unknown) => err as ApplicationFailure,
    );

  it('delivers the event: a stable id, the end time, the Batch object under data', async () => {
    const result = await run(deps(), 'batch.completed');
    const eventId = webhookEventId('batch_spec', 'batch.completed');
    expect(result).toEqual({ eventId, status: 200 });
    expect(eventId).toMatch(/^evt_[0-9a-f]{32}$/);
    expect(webhookEventId('batch_spec', 'batch.cancelled')).not.toBe(eventId);
    const [d] = receiver.about('batch_spec').slice(-1);
    expect(d.webhookId).toBe(eventId);
    expect(d.verified).toBe(true);
    expect(d.event).toEqual({
      id: eventId,
      object: 'event',
      type: 'batch.completed',
      created_at: 1003,
      data: toBatchObject(row()),
    });
  });

  it('asks for a retry after a 5xx, waiting what the attempt number calls for', async () => {
    answer.status = 503;
    const err = await failure(run(deps(), 'batch.completed', 3));
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err).toMatchObject({ type: 'WebhookRetryableStatus', nonRetryable: false });
    expect(err.nextRetryDelay).toBeGreaterThanOrEqual(200);
    expect(err.nextRetryDelay).toBeLessThanOrEqual(400);
  });

  it.each([408, 429])('retries a %i', async (status) => {
    answer.status = status;
    expect(await failure(run(deps(), 'batch.completed'))).toMatchObject({ nonRetryable: false });
  });

  it.each([400, 401, 404, 410, 302])('gives up at once on a %i', async (status) => {
    answer.status = status;
    expect(await failure(run(deps(), 'batch.completed'))).toMatchObject({
      type: 'WebhookRejected',
      nonRetryable: true,
    });
  });

  it('retries when the receiver cannot be reached', async () => {
    const nowhere = new WebhookSender({ ...sender.options, url: 'http://127.0.0.1:1/hooks' });
    try {
      expect(await failure(run(deps(nowhere), 'batch.completed'))).toMatchObject({
        type: 'WebhookUnreachable',
        nonRetryable: false,
      });
    } finally {
      await nowhere.close();
    }
  });

  it('refuses to announce a status the batch does not have', async () => {
    expect(await failure(run(deps(), 'batch.expired'))).toMatchObject({ type: 'UnexpectedStatus', nonRetryable: true });
    batch = undefined;
    expect(await failure(run(deps(), 'batch.completed'))).toMatchObject({ type: 'BatchNotFound', nonRetryable: true });
  });

  it('sends nothing on a worker without a webhook', async () => {
    const before = receiver.deliveries.length;
    expect(await run(deps(null), 'batch.completed')).toEqual({
      eventId: webhookEventId('batch_spec', 'batch.completed'),
      status: null,
    });
    expect(receiver.deliveries).toHaveLength(before);
  });
});
