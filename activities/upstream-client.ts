import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import { AnswerHandler, type Answer } from './answer-handler';
import { ConcurrencyLimiter, LimiterAbortError } from './concurrency-limiter';
import {
  tokensTotal,
  upstreamAttempts,
  upstreamLatency,
  upstreamRequests,
  upstreamRetries,
  type TallySlot,
} from '../src/metrics/metrics';
import type { Usage } from '../src/storage/batch.store';
import { RateLimiter } from './rate-limiter';

/** Where requests go and how hard to push. */
export interface UpstreamOptions {
  name: string;
  baseUrl: string;
  apiKey?: string;
  /** The upstream's concurrency: the AIMD ceiling and the connection pool's size. */
  concurrency: number;
  /** This worker process's part of `concurrency` (several processes; the supervisor moves it); default all. */
  concurrencyShare?: number;
  timeoutMs: number;
  maxRetries: number;
  retryBaseMs: number;
  retryMaxMs: number;
  /**
   * While connections are refused (the upstream is down, not answering badly), retries do not use up
   * `maxRetries` until the upstream has been unreachable this long; default 10 minutes.
   */
  outageToleranceMs?: number;
  requestsPerMinute?: number;
  tokensPerMinute?: number;
}

/** Per-request scheduling hints. */
export interface SendOptions {
  /** Fairness key (the batch id): the limiter serves keys round-robin. */
  key?: string;
  /** Tokens reserved against the tokens-per-minute budget before sending. */
  estimatedTokens?: number;
  /** The request's model, for metrics labels. */
  model?: string;
  /** Called before each wait between attempts (a backoff or an outage probe). */
  onBackoff?: () => void;
}

/** The final answer for one request: an HTTP response, or a failure with no response. */
export type UpstreamResult =
  | { kind: 'response'; status: number; requestId: string | null; body: Buffer; attempts: number }
  | { kind: 'error'; code: string; message: string; attempts: number };

/** This upstream's metric slots for one model. */
interface ModelSlots {
  attempts: TallySlot;
  succeeded: TallySlot;
  failed: TallySlot;
  inputTokens: TallySlot;
  outputTokens: TallySlot;
}

/** Thrown when the caller's signal aborts (chunk cancelled): the request has no result. */
export class UpstreamAbortedError extends Error {}

/** Errors that mean no connection could be made: the upstream is down or unreachable, the request never ran. */
const CONNECT_FAILURES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);
const DEFAULT_OUTAGE_TOLERANCE_MS = 10 * 60 * 1000;
/** How often requests look again while their upstream is down. */
const OUTAGE_PROBE_MS = 2000;

const RETRYABLE_STATUS = (status: number) => status === 408 || status === 409 || status === 429 || status >= 500;

/** The metrics label for a retried status, or undefined when the status is final. */
function retryReason(status: number): string | undefined {
  if (!RETRYABLE_STATUS(status)) return undefined;
  return status >= 500 ? '5xx' : String(status);
}

/** Parses Retry-After (seconds or an HTTP date) into milliseconds. */
export function retryAfterMs(header: string | string[] | undefined): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/**
 * Sends batch requests upstream over a keep-alive pool, with a shared AIMD concurrency limit, retrying 429
 * (honouring Retry-After), 5xx, timeouts and resets with exponential backoff; other 4xx are final at once.
 */
export class UpstreamClient {
  readonly limiter: ConcurrencyLimiter;
  /**
   * Bounds the requests prepared for this upstream (parsed, waiting for a slot or in flight) to the process's
   * concurrency share plus the upstream's concurrency (twice the concurrency for a single process), shared by every
   * chunk in the process and served round-robin by batch: enough waiting to refill every slot the moment it frees,
   * and to show the supervisor there is work for the whole concurrency, without each chunk queueing a full window of
   * parsed requests.
   */
  readonly admission: ConcurrencyLimiter;
  private readonly rpm?: RateLimiter;
  private readonly tpm?: RateLimiter;
  private readonly pool: Pool;
  private readonly base: string;
  /** The base URL's path (`/v1` in `http://host/v1`), prefixed to every request path. */
  private readonly basePath: string;
  private readonly headers: Record<string, string>;
  /** When this upstream last answered anything (or when the client was made). */
  private lastContact = Date.now();
  private readonly models = new Map<string, ModelSlots>();
  private readonly latencyLabels: { upstream: string };

  constructor(private readonly opts: UpstreamOptions) {
    const share = Math.min(opts.concurrencyShare ?? opts.concurrency, opts.concurrency);
    this.limiter = new ConcurrencyLimiter(opts.concurrency, share);
    this.admission = new ConcurrencyLimiter(2 * opts.concurrency, share + opts.concurrency);
    if (opts.requestsPerMinute) this.rpm = new RateLimiter(opts.requestsPerMinute);
    if (opts.tokensPerMinute) this.tpm = new RateLimiter(opts.tokensPerMinute);
    this.latencyLabels = { upstream: opts.name };
    this.base = opts.baseUrl.replace(/\/+$/, '');
    const url = new URL(this.base);
    this.basePath = url.pathname.replace(/\/+$/, '');
    // One pool for the upstream's origin: requests name a path, so nothing parses a URL per request.
    this.pool = new Pool(url.origin, { connections: opts.concurrency, keepAliveTimeout: 30_000, pipelining: 1 });
    this.headers = {
      'content-type': 'application/json',
      ...(opts.apiKey ? { authorization: `Bearer ${opts.apiKey}` } : {}),
    };
  }

  /** The upstream URL for a batch line's url (`/v1/x` -> `${base}/x`). */
  urlFor(path: string): string {
    return this.base + this.pathFor(path);
  }

  /** The batch line's url without its `/v1` prefix. */
  private pathFor(path: string): string {
    return path.startsWith('/v1/') ? path.slice(3) : path;
  }

  /** Moves this process's part of the upstream's concurrency (the supervisor of several worker processes does). */
  setConcurrencyShare(share: number): void {
    this.limiter.setShare(share);
    this.admission.setShare(share + this.opts.concurrency);
  }

  /** This upstream's name in the routing table. */
  get name(): string {
    return this.opts.name;
  }

  /** Sends one request until it has a final answer; throws UpstreamAbortedError if `signal` aborts. */
  async send(
    path: string,
    body: string | Buffer,
    signal: AbortSignal,
    opts: SendOptions = {},
  ): Promise<UpstreamResult> {
    const upstreamPath = this.basePath + this.pathFor(path);
    const slots = this.slotsFor(opts.model ?? '');
    for (let attempt = 1; ; attempt++) {
      if (this.rpm || this.tpm) await this.takeRate(signal, opts.estimatedTokens ?? 0);
      slots.attempts.n++;
      const outcome = await this.attempt(upstreamPath, body, signal, opts.key);
      const last = attempt > this.opts.maxRetries;
      const reason = outcome.kind === 'error' ? outcome.code : retryReason(outcome.status);
      if (!last && reason) upstreamRetries.inc({ upstream: this.opts.name, model: opts.model ?? '', reason });
      if (outcome.kind === 'response') {
        if (outcome.status === 429) this.limiter.onThrottled();
        else this.limiter.onSuccess();
        if (!RETRYABLE_STATUS(outcome.status) || last) return { ...outcome, attempts: attempt };
        await this.backoff(attempt, signal, outcome.retryAfter, opts.onBackoff);
      } else if (outcome.connectFailed && this.withinOutage()) {
        // The upstream is down: wait for it without spending this request's retries, probing every few seconds
        // so the batch picks up soon after it is back.
        attempt--;
        const probe = Math.min(this.opts.retryMaxMs, OUTAGE_PROBE_MS * (0.5 + Math.random()));
        await this.backoff(1, signal, probe, opts.onBackoff);
      } else {
        if (last) return { ...outcome, attempts: attempt };
        await this.backoff(attempt, signal, undefined, opts.onBackoff);
      }
    }
  }

  /**
   * Records a request's final answer: the result and token metrics, and the tokens-per-minute budget corrected
   * from the estimate reserved before sending to the real usage.
   */
  settle(model: string, ok: boolean, estimatedTokens: number, usage: Usage | undefined): void {
    this.tpm?.adjust((usage?.total_tokens ?? 0) - estimatedTokens);
    const slots = this.slotsFor(model);
    if (ok) slots.succeeded.n++;
    else slots.failed.n++;
    if (usage) {
      slots.inputTokens.n += usage.input_tokens;
      slots.outputTokens.n += usage.output_tokens;
    }
  }

  /** The metric slots for `model` on this upstream, made on first use. */
  private slotsFor(model: string): ModelSlots {
    let slots = this.models.get(model);
    if (!slots) {
      const labels = { upstream: this.opts.name, model };
      slots = {
        attempts: upstreamAttempts.slot(labels),
        succeeded: upstreamRequests.slot({ ...labels, result: 'succeeded' }),
        failed: upstreamRequests.slot({ ...labels, result: 'failed' }),
        inputTokens: tokensTotal.slot({ ...labels, kind: 'input' }),
        outputTokens: tokensTotal.slot({ ...labels, kind: 'output' }),
      };
      this.models.set(model, slots);
    }
    return slots;
  }

  private async takeRate(signal: AbortSignal, tokens: number): Promise<void> {
    try {
      await this.rpm?.take(1, signal);
      if (tokens > 0) await this.tpm?.take(tokens, signal);
    } catch (err) {
      if (err instanceof LimiterAbortError) throw new UpstreamAbortedError(err.message);
      throw err;
    }
  }

  private async attempt(path: string, body: string | Buffer, signal: AbortSignal, key?: string) {
    // A free slot is taken at once; only a full limiter costs a wait.
    if (!this.limiter.tryAcquire()) {
      try {
        await this.limiter.acquire(signal, key);
      } catch (err) {
        if (err instanceof LimiterAbortError) throw new UpstreamAbortedError(err.message);
        throw err;
      }
    }
    const stopTimer = upstreamLatency.startTimer(this.latencyLabels);
    let handler: AnswerHandler | undefined;
    try {
      const answer = await new Promise<Answer>((resolve, reject) => {
        if (signal.aborted) return reject(new UpstreamAbortedError('chunk cancelled'));
        handler = new AnswerHandler(resolve, reject, signal);
        const options = {
          path,
          method: 'POST' as const,
          headers: this.headers,
          body,
          headersTimeout: this.opts.timeoutMs,
          bodyTimeout: this.opts.timeoutMs,
        };
        this.pool.dispatch(options, handler);
      });
      this.lastContact = Date.now();
      return {
        kind: 'response' as const,
        status: answer.status,
        requestId: answer.requestId,
        body: answer.body,
        retryAfter: retryAfterMs(answer.retryAfter),
      };
    } catch (err) {
      if (handler?.answered) this.lastContact = Date.now();
      if (signal.aborted) throw new UpstreamAbortedError('chunk cancelled');
      return { kind: 'error' as const, ...classifyNetworkError(err) };
    } finally {
      stopTimer();
      this.limiter.release();
    }
  }

  private async backoff(attempt: number, signal: AbortSignal, retryAfter?: number, onBackoff?: () => void) {
    onBackoff?.();
    const exp = Math.min(this.opts.retryMaxMs, this.opts.retryBaseMs * 2 ** (attempt - 1));
    const jittered = exp / 2 + Math.random() * (exp / 2);
    const wait = retryAfter !== undefined ? Math.min(this.opts.retryMaxMs, retryAfter) : jittered;
    try {
      await sleep(wait, undefined, { signal });
    } catch {
      // The only rejection of an abortable sleep is the abort itself.
      throw new UpstreamAbortedError('chunk cancelled');
    }
  }

  private withinOutage(): boolean {
    return Date.now() - this.lastContact < (this.opts.outageToleranceMs ?? DEFAULT_OUTAGE_TOLERANCE_MS);
  }

  /** Closes pooled connections. */
  async close(): Promise<void> {
    await this.pool.close();
  }
}

/** The error line for a request that got no HTTP answer; `connectFailed` when no connection could be made. */
function classifyNetworkError(err: unknown): { code: string; message: string; connectFailed: boolean } {
  const code = (err as { code?: string }).code ?? '';
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
    return { code: 'upstream_timeout', message: 'The upstream did not answer in time.', connectFailed: false };
  }
  return {
    code: 'upstream_unreachable',
    message: `The upstream could not be reached (${code || (err as Error).message}).`,
    connectFailed: CONNECT_FAILURES.has(code),
  };
}
