import { Context, log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { createHash } from 'node:crypto';
import { toBatchObject, type BatchObject } from '../src/batch-format/batch-object';
import { webhookDeliveries } from '../src/metrics/metrics';
import type { ActivityDeps } from './deps';
import type { NotifyWebhookInput, NotifyWebhookResult } from './types';
import { STATUS, statusOfEvent, type WebhookEventType } from '../src/batch-format/status';
import { nowSeconds } from '../src/common/clock';
import { retryableWebhookStatus } from '../src/webhooks/webhook-sender';

/** The event a receiver gets: OpenAI's webhook event shape, with the whole Batch under `data`. */
export interface WebhookEvent {
  id: string;
  object: 'event';
  type: WebhookEventType;
  created_at: number;
  data: BatchObject;
}

/** The same id for every attempt and re-delivery of one batch's event, so receivers can de-duplicate. */
export const webhookEventId = (batchId: string, type: WebhookEventType): string =>
  `evt_${createHash('sha256').update(`${batchId}:${type}`).digest('hex').slice(0, 32)}`;

/**
 * Builds the notifyWebhook activity: one signed POST per attempt. 2xx delivers; 408, 429, 5xx, network errors
 * and timeouts are retried by Temporal after a delay this activity picks; any other answer is final.
 */
export function makeNotifyWebhook(deps: ActivityDeps) {
  return async function notifyWebhook({ batchId, type }: NotifyWebhookInput): Promise<NotifyWebhookResult> {
    const eventId = webhookEventId(batchId, type);
    const count = (outcome: string) => webhookDeliveries.inc({ type, outcome });
    const sender = deps.webhook;
    if (!sender) {
      // Validation ran on a worker with WEBHOOK_URL; this one has none (the setting was removed since).
      log.warn('webhook skipped: WEBHOOK_URL is not set on this worker', { batchId, type });
      count('skipped');
      return { eventId, status: null };
    }
    const batch = await deps.batches.getById(batchId);
    if (!batch) throw ApplicationFailure.create({ type: 'BatchNotFound', message: batchId, nonRetryable: true });
    const status = statusOfEvent(type);
    if (batch.status !== status) {
      throw ApplicationFailure.create({
        type: 'UnexpectedStatus',
        message: `${type} for ${batchId}, which is ${batch.status}`,
        nonRetryable: true,
      });
    }
    const event: WebhookEvent = {
      id: eventId,
      object: 'event',
      type,
      created_at: Number(batch[STATUS[status].stamp!] ?? nowSeconds()),
      data: toBatchObject(batch),
    };
    const ctx = Context.current();
    const attempt = ctx.info.attempt;
    const answer = await sender.post(eventId, JSON.stringify(event), ctx.cancellationSignal).catch((err: unknown) => {
      if (ctx.cancellationSignal.aborted) throw err;
      count('retry');
      throw ApplicationFailure.create({
        type: 'WebhookUnreachable',
        message: `webhook not reached: ${(err as Error).message}`,
        nextRetryDelay: sender.retryDelayMs(attempt),
      });
    });
    if (answer.status >= 200 && answer.status < 300) {
      count('delivered');
      return { eventId, status: answer.status };
    }
    if (retryableWebhookStatus(answer.status)) {
      count('retry');
      throw ApplicationFailure.create({
        type: 'WebhookRetryableStatus',
        message: `webhook answered ${answer.status}`,
        nextRetryDelay: sender.retryDelayMs(attempt, answer.retryAfterMs),
      });
    }
    count('rejected');
    log.warn('webhook rejected; not retried', { batchId, type, eventId, status: answer.status });
    throw ApplicationFailure.create({
      type: 'WebhookRejected',
      message: `webhook answered ${answer.status}; not retried`,
      nonRetryable: true,
    });
  };
}
