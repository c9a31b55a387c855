import { createHmac } from 'node:crypto';
import { Agent, request } from 'undici';
import type { AppConfig } from '../config/config';
import { backoffMs, retryAfterMs } from '../common/backoff';

/** Where events go, how they are signed, and how hard to retry (WEBHOOK_* settings). */
export interface WebhookOptions {
  url: string;
  secret: string;
  timeoutMs: number;
  retryInitialMs: number;
  retryMaxMs: number;
}

/** The receiver's answer to one attempt. */
export interface WebhookAnswer {
  status: number;
  /** Retry-After of a 429 or 503, in milliseconds. */
  retryAfterMs?: number;
}

/**
 * The Standard Webhooks signature OpenAI uses: `v1,` + base64 HMAC-SHA256 of `${id}.${timestamp}.${body}`.
 * A `whsec_` secret is base64 after the prefix (as Standard Webhooks libraries read it); any other is its UTF-8 bytes.
 */
export function signWebhook(secret: string, id: string, timestamp: number, body: string): string {
  const key = secret.startsWith('whsec_') ? Buffer.from(secret.slice('whsec_'.length), 'base64') : secret;
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
}

/** Statuses worth another attempt: timeouts, throttling and server errors. Anything else that is not 2xx is final. */
export const retryableWebhookStatus = (status: number): boolean => status === 408 || status === 429 || status >= 500;

/** POSTs signed events to the configured URL over its own keep-alive pool. */
export class WebhookSender {
  private readonly agent: Agent;

  /** A sender when WEBHOOK_URL is set (loadConfig refuses a URL without a secret), else undefined. */
  static fromConfig(config: AppConfig): WebhookSender | undefined {
    if (!config.WEBHOOK_URL || !config.WEBHOOK_SECRET) return undefined;
    return new WebhookSender({
      url: config.WEBHOOK_URL,
      secret: config.WEBHOOK_SECRET,
      timeoutMs: config.WEBHOOK_TIMEOUT_MS,
      retryInitialMs: config.WEBHOOK_RETRY_INITIAL_MS,
      retryMaxMs: config.WEBHOOK_RETRY_MAX_MS,
    });
  }

  constructor(readonly options: WebhookOptions) {
    this.agent = new Agent({
      connect: { timeout: options.timeoutMs },
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
    });
  }

  /** One attempt; throws on network errors and on the timeout (or when `signal` aborts). */
  async post(id: string, body: string, signal?: AbortSignal): Promise<WebhookAnswer> {
    const timestamp = Math.floor(Date.now() / 1000);
    const deadline = AbortSignal.timeout(this.options.timeoutMs);
    const res = await request(this.options.url, {
      dispatcher: this.agent,
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'temporal-batch-api-webhooks',
        'webhook-id': id,
        'webhook-timestamp': String(timestamp),
        'webhook-signature': signWebhook(this.options.secret, id, timestamp, body),
      },
      body,
      signal: signal ? AbortSignal.any([signal, deadline]) : deadline,
    });
    // The receiver's body means nothing to us; reading it frees the connection for the next event.
    await res.body.dump();
    return { status: res.statusCode, retryAfterMs: retryAfterMs(res.headers['retry-after']) };
  }

  /** The wait before attempt `attempt + 1`: Retry-After when given (at least the initial wait), else doubling with jitter, capped. */
  retryDelayMs(attempt: number, retryAfter?: number): number {
    const { retryInitialMs, retryMaxMs } = this.options;
    const policy = { baseMs: retryInitialMs, maxMs: retryMaxMs, minRetryAfterMs: retryInitialMs };
    return Math.round(backoffMs(policy, attempt, retryAfter));
  }

  /** Closes pooled connections. */
  async close(): Promise<void> {
    await this.agent.close();
  }
}
