import { ActivityFailure, isCancellation, log, proxyActivities } from '@temporalio/workflow';
import type { BatchActivities } from '../activities';
import type { BatchStatus, WebhookEventType } from '../activities/types';

// Deliveries are retried for a day. The activity chooses each delay itself (WEBHOOK_RETRY_*, Retry-After), so
// this policy's intervals apply only when a worker is lost during an attempt.
const { notifyWebhook } = proxyActivities<BatchActivities>({
  startToCloseTimeout: '2 minutes',
  scheduleToCloseTimeout: '24 hours',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 hour' },
});

const EVENTS: Partial<Record<BatchStatus, WebhookEventType>> = {
  completed: 'batch.completed',
  failed: 'batch.failed',
  expired: 'batch.expired',
  cancelled: 'batch.cancelled',
};

/**
 * Announces an end state the store already holds, when validation ran on a worker with a webhook. A deployment
 * without one schedules nothing here, so its command sequence (and its recorded histories) stay as they were.
 * A delivery that gives up is logged; it never changes how the batch ended.
 */
export async function announceEnd(batchId: string, status: BatchStatus, webhooks?: boolean): Promise<void> {
  const type = EVENTS[status];
  if (!webhooks || !type) return;
  try {
    await notifyWebhook({ batchId, type });
  } catch (err) {
    if (!(err instanceof ActivityFailure) || isCancellation(err)) throw err;
    log.warn('webhook not delivered', { batchId, type, error: String(err.cause?.message ?? err.message) });
  }
}
