import OpenAI from 'openai';
import { loadConfig } from '../config/config';
import { verifyWebhook, WebhookReceiver } from '../../test/support/webhook-receiver';
import { signWebhook, WebhookSender } from './webhook-sender';

const PLAIN = 'a-plain-secret-of-some-length';
const WHSEC = `whsec_${Buffer.from('thirty-two bytes of key material!').toString('base64')}`;

describe('signWebhook', () => {
  it.each([
    ['a plain secret', PLAIN],
    ['a whsec_ secret', WHSEC],
  ])('signs so that the openai SDK and the documented check both verify it, with %s', async (_, secret) => {
    const id = 'evt_0123';
    const timestamp = Math.floor(Date.now() / 1000);
    const body = '{"id":"evt_0123","object":"event"}';
    const headers = { 'webhook-id': id, 'webhook-timestamp': String(timestamp) };
    const signature = signWebhook(secret, id, timestamp, body);
    expect(signature).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    const sdk = new OpenAI({ apiKey: 'unused' });
    await expect(
      sdk.webhooks.unwrap(body, { ...headers, 'webhook-signature': signature }, secret),
    ).resolves.toMatchObject({ id });
    expect(verifyWebhook(secret, { ...headers, 'webhook-signature': signature }, body)).toBe(true);
    expect(verifyWebhook(secret, { ...headers, 'webhook-signature': signature }, body + ' ')).toBe(false);
    const other = secret === PLAIN ? WHSEC : PLAIN;
    expect(verifyWebhook(other, { ...headers, 'webhook-signature': signature }, body)).toBe(false);
  });
});

describe('WebhookSender.fromConfig', () => {
  it('builds no sender without WEBHOOK_URL, so validation tells the workflow to send nothing', async () => {
    expect(WebhookSender.fromConfig(loadConfig({}))).toBeUndefined();
    const sender = WebhookSender.fromConfig(
      loadConfig({ WEBHOOK_URL: 'https://hooks.example.com/b', WEBHOOK_SECRET: PLAIN, WEBHOOK_TIMEOUT_MS: '2000' }),
    );
    expect(sender?.options).toEqual({
      url: 'https://hooks.example.com/b',
      secret: PLAIN,
      timeoutMs: 2000,
      retryInitialMs: 1000,
      retryMaxMs: 3600000,
    });
    await sender?.close();
  });
});

describe('WebhookSender against a real receiver', () => {
  let receiver: WebhookReceiver;
  let sender: WebhookSender;
  let answer: () => Promise<number> = async () => 200;

  beforeAll(async () => {
    receiver = await WebhookReceiver.start(PLAIN, async () => ({ status: await answer() }));
    sender = new WebhookSender({
      url: receiver.url,
      secret: PLAIN,
      timeoutMs: 300,
      retryInitialMs: 100,
      retryMaxMs: 1000,
    });
  });
  afterAll(async () => {
    await sender.close();
    await receiver.close();
  });

  it('POSTs the body with webhook-id, webhook-timestamp and a signature the receiver verifies', async () => {
    const body = JSON.stringify({ id: 'evt_a', object: 'event', type: 'batch.completed', data: { id: 'batch_a' } });
    answer = async () => 204;
    expect(await sender.post('evt_a', body)).toEqual({ status: 204, retryAfterMs: undefined });
    const [d] = receiver.deliveries.slice(-1);
    expect(d).toMatchObject({ webhookId: 'evt_a', body, verified: true, verifiedBySdk: true, answer: 204 });
    expect(Math.abs(d.timestamp - Date.now() / 1000)).toBeLessThan(5);
  });

  it('throws when the receiver does not answer within the timeout', async () => {
    let release = () => {};
    answer = () => new Promise((r) => (release = () => r(200)));
    const t0 = Date.now();
    await expect(sender.post('evt_slow', '{}')).rejects.toThrow();
    expect(Date.now() - t0).toBeLessThan(1500);
    release();
  });

  it('backs off by doubling with jitter up to the cap, and honours Retry-After within it', () => {
    for (const [attempt, low, high] of [
      [1, 50, 100],
      [2, 100, 200],
      [3, 200, 400],
      [10, 500, 1000],
    ]) {
      const delay = sender.retryDelayMs(attempt);
      expect(delay).toBeGreaterThanOrEqual(low);
      expect(delay).toBeLessThanOrEqual(high);
    }
    expect(sender.retryDelayMs(1, 700)).toBe(700);
    expect(sender.retryDelayMs(1, 60_000)).toBe(1000);
    expect(sender.retryDelayMs(1, 0)).toBe(100);
  });
});
