import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import { AnswerHandler } from './answer-handler';
import { ConcurrencyLimiter, LimiterAbortError } from './concurrency-limiter';
import {
  tokensTotal,
  upstreamAttempts,
  upstreamLatency,
  upstreamRequests,
  upstreamRetries,
  type HistogramSlot,
  type TallySlot,
} from '../metrics/metrics';
import type { Usage } from '../batch-format/usage';
import { backoffMs, type BackoffPolicy } from '../common/backoff';
import type { UpstreamAnswer, UpstreamFailure } from './answer';
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
  /** Each owner's fair-share weight (the tenants file); default 1 for every owner. */
  ownerWeight?: (owner: string) => number;
}

/** Per-request scheduling hints. */
export interface SendOptions {
  /** Fairness key (the batch id): the limiter serves an owner's batches round-robin. */
  key?: string;
  /** The batch's owner (the tenant): the limiter serves owners by weight before batches. */
  owner?: string;
  /** Tokens reserved against the tokens-per-minute budget before sending. */
  estimatedTokens?: number;
  /** The request's model, for metrics labels. */
  model?: string;
  /** Called before each wait between attempts (a backoff or an outage probe). */
  onBackoff?: () => void;
}

/** An upstream's concurrency as it stands. */
export interface UpstreamStats {
  /** Requests holding a slot. */
  inFlight: number;
  /** Requests waiting for a slot. */
  queued: number;
  /** The concurrency this process may use now: the AIMD allowance within its share. */
  limit: number;
  /** This process's share of the upstream's concurrency (all of it for a single process). */
  share: number;
  /** The AIMD allowance, whatever the share. */
  allowance: number;
}

/** One owner's requests on this upstream in this process. */
export interface OwnerUpstreamStats {
  /** Requests holding a slot. */
  inFlight: number;
  /** Requests read and waiting: for a slot, or for an admission (a chunk's next request). */
  queued: number;
}

/** Called once with a request's final answer, or with an error (UpstreamAbortedError when the chunk's signal aborted). */
export type SendCallback = (err: Error | null, answer?: UpstreamAnswer) => void;

/** After an attempt: its answer is final (`attempts` set), or the next attempt's number and the wait before it. */
type Verdict = { final: UpstreamAnswer } | { next: number; waitMs: number };

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

/** Distinct `model` label values per upstream; models seen after these share the label `other`. */
const MAX_MODEL_LABELS = 50;
/** How long a retry's reason is shown as what the upstream's requests wait on. */
const TROUBLE_SHOWN_MS = 5000;
/** Retry reasons in words. */
const TROUBLE_WORDS: Record<string, string> = {
  '429': '429 rate limited',
  '408': '408 timeouts: retrying',
  '5xx': '5xx errors: retrying',
  upstream_timeout: 'timeouts: retrying',
  upstream_unreachable: 'unreachable: waiting for it',
};

/**
 * Sends batch requests upstream over a keep-alive pool, with a shared AIMD concurrency limit, retrying 429
 * (honouring Retry-After), 5xx, timeouts and resets with exponential backoff; other 4xx are final at once.
 */
export class UpstreamClient {
  /** In-flight requests: the AIMD limit within this process's share of the upstream's concurrency. */
  private readonly limiter: ConcurrencyLimiter;
  /**
   * Bounds the requests prepared for this upstream (parsed, waiting for a slot or in flight) to the process's
   * concurrency share plus the upstream's concurrency (twice the concurrency for a single process), shared by every
   * chunk in the process and served round-robin by batch: enough waiting to refill every slot the moment it frees,
   * and to show the supervisor there is work for the whole concurrency, without each chunk queueing a full window of
   * parsed requests. Chunks take it with {@link tryAdmit} / {@link admit} and give it back with {@link leave}.
   */
  private readonly admission: ConcurrencyLimiter;
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
  private readonly latency: HistogramSlot;
  /** Waits between attempts: UPSTREAM_RETRY_BASE_MS doubling to UPSTREAM_RETRY_MAX_MS, or Retry-After (capped). */
  private readonly backoff: BackoffPolicy;
  /** The slots of every model past the first MAX_MODEL_LABELS. */
  private others: ModelSlots | undefined;
  /** The last reason a request had to wait or retry, and when: what the batches on this upstream wait on. */
  private trouble: { reason: string; at: number } | undefined;

  constructor(private readonly opts: UpstreamOptions) {
    const share = Math.min(opts.concurrencyShare ?? opts.concurrency, opts.concurrency);
    this.limiter = new ConcurrencyLimiter(opts.concurrency, share, opts.ownerWeight);
    this.admission = new ConcurrencyLimiter(2 * opts.concurrency, share + opts.concurrency, opts.ownerWeight);
    if (opts.requestsPerMinute) this.rpm = new RateLimiter(opts.requestsPerMinute);
    if (opts.tokensPerMinute) this.tpm = new RateLimiter(opts.tokensPerMinute);
    this.latency = upstreamLatency.slot({ upstream: opts.name });
    this.backoff = { baseMs: opts.retryBaseMs, maxMs: opts.retryMaxMs };
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

  /** True when the upstream has a tokens-per-minute budget (requests then reserve an estimate of their tokens). */
  get limitsTokens(): boolean {
    return this.tpm !== undefined;
  }

  /** This upstream's name in the routing table. */
  get name(): string {
    return this.opts.name;
  }

  /** Takes an admission for one more of `owner`'s prepared requests if one is free at once (no waiting). */
  tryAdmit(owner = ''): boolean {
    return this.admission.tryAcquire(owner);
  }

  /**
   * Waits for an admission in `owner`'s line, batch `key` (owners are served by weight, then their batches
   * round-robin); rejects with LimiterAbortError.
   */
  admit(signal: AbortSignal, key: string, owner = ''): Promise<void> {
    return this.admission.acquire(signal, key, owner);
  }

  /** Gives `owner`'s admission back (the request is answered, or waits out a backoff). */
  leave(owner = ''): void {
    this.admission.release(owner);
  }

  /** The concurrency as it stands, for metrics and the supervisor of several worker processes. */
  stats(): UpstreamStats {
    const { inFlight, queued, limit, share, allowance } = this.limiter;
    return { inFlight, queued, limit, share, allowance };
  }

  /** Per owner: requests in flight, and requests read and waiting (for a slot or an admission). */
  ownerStats(): Map<string, OwnerUpstreamStats> {
    const stats = new Map<string, OwnerUpstreamStats>();
    for (const [owner, { inFlight, queued }] of this.limiter.byOwner()) stats.set(owner, { inFlight, queued });
    for (const [owner, { queued }] of this.admission.byOwner()) {
      if (queued === 0) continue;
      const s = stats.get(owner);
      if (s) s.queued += queued;
      else stats.set(owner, { inFlight: 0, queued });
    }
    return stats;
  }

  /**
   * What requests to this upstream wait on, in words, for the chunks' heartbeat details in the Web UI: e.g.
   * "429 rate limited, concurrency 1 of 64" (the AIMD limit shrinks on 429s) or "sending, concurrency 64 of 64".
   */
  describeState(): string {
    const recent = this.trouble && Date.now() - this.trouble.at < TROUBLE_SHOWN_MS ? this.trouble.reason : undefined;
    return `${recent ?? 'sending'}, concurrency ${this.limiter.inFlight} of ${this.limiter.limit}`;
  }

  /** Sends one request until it has a final answer; throws UpstreamAbortedError if `signal` aborts. */
  send(path: string, body: string | Buffer, signal: AbortSignal, opts: SendOptions = {}): Promise<UpstreamAnswer> {
    return new Promise((resolve, reject) => {
      this.sendWith(path, body, signal, opts, (err, answer) => (err ? reject(err) : resolve(answer!)));
    });
  }

  /**
   * {@link send} with a callback, called once with the final answer or an error (UpstreamAbortedError when `signal`
   * aborts). The common case makes no promise at all: no rate limit to wait for, and a final answer to the first
   * attempt (whether its slot was free or waited for). A busy worker sends thousands of requests a second, and every
   * promise it makes pays for the activity context's async hooks as well as its own allocation; only waits and
   * retries take the async path.
   */
  sendWith(path: string, body: string | Buffer, signal: AbortSignal, opts: SendOptions, done: SendCallback): void {
    const upstreamPath = this.basePath + this.pathFor(path);
    const slots = this.slotsFor(opts.model ?? '');
    if (this.rpm || this.tpm) {
      this.sendLoop(upstreamPath, body, signal, opts, slots, undefined).then((r) => done(null, r), done);
      return;
    }
    slots.attempts.n++;
    this.attempt(upstreamPath, body, signal, opts, (err, answer) => {
      if (err) return done(err);
      const verdict = this.verdict(1, answer!, opts.model ?? '');
      if ('final' in verdict) return done(null, verdict.final);
      this.sendLoop(upstreamPath, body, signal, opts, slots, verdict).then((r) => done(null, r), done);
    });
  }

  /** Attempts until a final answer, starting with the wait `verdict` (of a first attempt) asks for, if any. */
  private async sendLoop(
    path: string,
    body: string | Buffer,
    signal: AbortSignal,
    opts: SendOptions,
    slots: ModelSlots,
    verdict: Verdict | undefined,
  ): Promise<UpstreamAnswer> {
    let attempt = 1;
    for (;;) {
      if (verdict) {
        if ('final' in verdict) return verdict.final;
        await this.wait(verdict.waitMs, signal, opts.onBackoff);
        attempt = verdict.next;
      }
      if (this.rpm || this.tpm) await this.takeRate(signal, opts.estimatedTokens ?? 0);
      slots.attempts.n++;
      const answer = await new Promise<UpstreamAnswer>((resolve, reject) =>
        this.attempt(path, body, signal, opts, (err, a) => (err ? reject(err) : resolve(a!))),
      );
      verdict = this.verdict(attempt, answer, opts.model ?? '');
    }
  }

  /**
   * What follows attempt number `attempt`: its answer is final, or another attempt comes after a wait (a backoff,
   * Retry-After, or an outage probe, which does not use up a retry). Counts the retry and moves the AIMD limit.
   */
  private verdict(attempt: number, answer: UpstreamAnswer, model: string): Verdict {
    const last = attempt > this.opts.maxRetries;
    const reason = answer.kind === 'error' ? answer.code : retryReason(answer.status);
    if (reason) this.trouble = { reason: TROUBLE_WORDS[reason] ?? `${reason}: retrying`, at: Date.now() };
    if (!last && reason) upstreamRetries.inc({ upstream: this.opts.name, model: this.modelLabel(model), reason });
    if (answer.kind === 'response') {
      if (answer.status === 429) this.limiter.onThrottled();
      else this.limiter.onSuccess();
      if (!RETRYABLE_STATUS(answer.status) || last) {
        answer.attempts = attempt;
        return { final: answer };
      }
      return { next: attempt + 1, waitMs: backoffMs(this.backoff, attempt, answer.retryAfterMs) };
    }
    if (answer.connectFailed && this.withinOutage()) {
      // The upstream is down: wait for it without spending this request's retries, probing every few seconds so
      // the batch picks up soon after it is back.
      return { next: attempt, waitMs: Math.min(this.opts.retryMaxMs, OUTAGE_PROBE_MS * (0.5 + Math.random())) };
    }
    if (last) {
      answer.attempts = attempt;
      return { final: answer };
    }
    return { next: attempt + 1, waitMs: backoffMs(this.backoff, attempt) };
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

  /**
   * The `model` label for a request's model: the first MAX_MODEL_LABELS models seen on this upstream are labelled as
   * they are, the rest `other`, so a batch naming new models cannot grow the metrics without bound.
   */
  private modelLabel(model: string): string {
    return this.models.has(model) || this.models.size < MAX_MODEL_LABELS ? model : 'other';
  }

  /** The metric slots for `model` on this upstream, made on first use. */
  private slotsFor(model: string): ModelSlots {
    let slots = this.models.get(model);
    if (!slots) {
      const label = this.modelLabel(model);
      if (label === 'other') return (this.others ??= this.slotsOf('other'));
      slots = this.slotsOf(label);
      this.models.set(model, slots);
    }
    return slots;
  }

  /** The metric slots of one `model` label. */
  private slotsOf(model: string): ModelSlots {
    const labels = { upstream: this.opts.name, model };
    return {
      attempts: upstreamAttempts.slot(labels),
      succeeded: upstreamRequests.slot({ ...labels, result: 'succeeded' }),
      failed: upstreamRequests.slot({ ...labels, result: 'failed' }),
      inputTokens: tokensTotal.slot({ ...labels, kind: 'input' }),
      outputTokens: tokensTotal.slot({ ...labels, kind: 'output' }),
    };
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

  /**
   * One attempt: takes a slot (a free one at once, else in the owner's line for its batch, without a promise) and
   * sends. A queued request is granted its slot from inside another request's completion, while undici is still
   * handling that connection: it is sent from a microtask, once undici is done.
   */
  private attempt(
    path: string,
    body: string | Buffer,
    signal: AbortSignal,
    opts: SendOptions,
    done: SendCallback,
  ): void {
    const owner = opts.owner ?? '';
    if (this.limiter.tryAcquire(owner)) return this.dispatchAttempt(path, body, signal, owner, done);
    this.limiter.acquireWith(
      signal,
      opts.key ?? '',
      (err) => {
        if (err) return done(new UpstreamAbortedError(err.message));
        queueMicrotask(() => this.dispatchAttempt(path, body, signal, owner, done));
      },
      owner,
    );
  }

  /**
   * Sends one attempt on the slot the caller holds, and gives the slot back when it ends. `done` gets the HTTP
   * answer or the network failure as an outcome, or UpstreamAbortedError when `signal` aborted.
   */
  private dispatchAttempt(
    path: string,
    body: string | Buffer,
    signal: AbortSignal,
    owner: string,
    done: SendCallback,
  ): void {
    if (signal.aborted) {
      this.limiter.release(owner);
      return done(new UpstreamAbortedError('chunk cancelled'));
    }
    const started = performance.now();
    const handler = new AnswerHandler(signal, (err, answer) => {
      this.latency.observe((performance.now() - started) / 1000);
      this.limiter.release(owner);
      if (answer) {
        this.lastContact = Date.now();
        return done(null, answer);
      }
      if (handler.answered) this.lastContact = Date.now();
      if (signal.aborted) return done(new UpstreamAbortedError('chunk cancelled'));
      done(null, classifyNetworkError(err));
    });
    this.pool.dispatch(
      {
        path,
        method: 'POST',
        headers: this.headers,
        body,
        headersTimeout: this.opts.timeoutMs,
        bodyTimeout: this.opts.timeoutMs,
      },
      handler,
    );
  }

  private async wait(ms: number, signal: AbortSignal, onBackoff?: () => void): Promise<void> {
    onBackoff?.();
    try {
      await sleep(ms, undefined, { signal });
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

/** The failure for a request that got no HTTP answer; `connectFailed` when no connection could be made. */
function classifyNetworkError(err: unknown): UpstreamFailure {
  const code = (err as { code?: string }).code ?? '';
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
    return {
      kind: 'error',
      code: 'upstream_timeout',
      message: 'The upstream did not answer in time.',
      connectFailed: false,
      attempts: 0,
    };
  }
  return {
    kind: 'error',
    code: 'upstream_unreachable',
    message: `The upstream could not be reached (${code || (err as Error).message}).`,
    connectFailed: CONNECT_FAILURES.has(code),
    attempts: 0,
  };
}
