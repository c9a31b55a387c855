import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import type { WebhookEvent } from '../../activities/notify-webhook';

/**
 * A receiver's check of a delivery, as the README shows it: the HMAC-SHA256 of `${id}.${timestamp}.${body}` under
 * the secret (base64 after `whsec_`, else its UTF-8 bytes) must equal one of the `v1,` signatures, and the
 * timestamp must be recent.
 */
export function verifyWebhook(secret: string, headers: IncomingHttpHeaders, body: string, toleranceS = 300): boolean {
  const id = String(headers['webhook-id']);
  const timestamp = String(headers['webhook-timestamp']);
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > toleranceS) return false;
  const key = secret.startsWith('whsec_') ? Buffer.from(secret.slice(6), 'base64') : Buffer.from(secret);
  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest();
  return String(headers['webhook-signature'])
    .split(' ')
    .some((s) => {
      const given = Buffer.from(s.replace(/^v1,/, ''), 'base64');
      return given.length === expected.length && timingSafeEqual(given, expected);
    });
}

/** One POST the receiver got. */
export interface WebhookDelivery {
  webhookId: string;
  timestamp: number;
  body: string;
  event: WebhookEvent;
  /** The check above passed. */
  verified: boolean;
  /** The official openai SDK's `webhooks.unwrap` accepted it too. */
  verifiedBySdk: boolean;
  /** Unix milliseconds at arrival. */
  receivedAt: number;
  /** 1 for the first delivery of this webhook-id, 2 for the next, ... */
  attempt: number;
  /** What the receiver answered. */
  answer: number;
  /** Whatever the test's hook recorded before the answer went out. */
  seen?: unknown;
}

/** Chooses the answer to a delivery; may look around first (its result lands in `seen`). */
export type WebhookResponder = (d: WebhookDelivery) => Promise<{ status: number; seen?: unknown }>;

/** A real HTTP endpoint on a free port that records and verifies webhook deliveries. */
export class WebhookReceiver {
  readonly deliveries: WebhookDelivery[] = [];
  private readonly sdk: OpenAI;

  private constructor(
    private readonly server: Server,
    readonly url: string,
    private readonly secret: string,
    private readonly respond: WebhookResponder,
  ) {
    this.sdk = new OpenAI({ apiKey: 'unused', webhookSecret: secret });
    server.on('request', (req: IncomingMessage, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        void this.record(req.headers, Buffer.concat(chunks).toString('utf8')).then(
          (status) => res.writeHead(status).end(),
          () => res.writeHead(599).end(),
        );
      });
    });
  }

  /** Listens on 127.0.0.1 at a free port; `respond` answers 200 unless told otherwise. */
  static start(secret: string, respond?: WebhookResponder): Promise<WebhookReceiver> {
    const server = createServer();
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address() as AddressInfo;
        resolve(new WebhookReceiver(server, `http://127.0.0.1:${port}/hooks`, secret, respond ?? ok));
      });
    });
  }

  /** Deliveries whose event is about this batch, in arrival order. */
  about(batchId: string): WebhookDelivery[] {
    return this.deliveries.filter((d) => d.event.data?.id === batchId);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private async record(headers: IncomingHttpHeaders, body: string): Promise<number> {
    const webhookId = String(headers['webhook-id']);
    const delivery: WebhookDelivery = {
      webhookId,
      timestamp: Number(headers['webhook-timestamp']),
      body,
      event: JSON.parse(body) as WebhookEvent,
      verified: verifyWebhook(this.secret, headers, body),
      verifiedBySdk: await this.sdk.webhooks.unwrap(body, headers as Record<string, string>).then(
        () => true,
        () => false,
      ),
      receivedAt: Date.now(),
      attempt: this.deliveries.filter((d) => d.webhookId === webhookId).length + 1,
      answer: 0,
    };
    this.deliveries.push(delivery);
    const { status, seen } = await this.respond(delivery);
    delivery.answer = status;
    delivery.seen = seen;
    return status;
  }
}

const ok: WebhookResponder = async () => ({ status: 200 });
