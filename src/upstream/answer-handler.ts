import type { Dispatcher } from 'undici';
import { errors } from 'undici';
import { retryAfterMs } from '../common/backoff';
import { listenAbort, unlistenAbort, type AbortListener } from './abort-hub';
import type { UpstreamResponse } from './answer';

/** Called once with the upstream's response, or with undici's error. */
export type AnswerCallback = (err: Error | null, answer?: UpstreamResponse) => void;

const X_REQUEST_ID = 'x-request-id';
const EMPTY = Buffer.alloc(0);
const RETRY_AFTER = 'retry-after';

/**
 * Collects one response for `Dispatcher.dispatch` as an {@link UpstreamResponse}. undici's `request()` wraps every response in an async resource
 * and a Readable stream and parses every header into an object; a batch needs the status, two headers and the
 * body, so this handler keeps only those (a B1 profile showed undici's request path and its garbage among the
 * largest costs per request). Errors are undici's own, as `request()` would reject with.
 */
export class AnswerHandler implements Dispatcher.DispatchHandler {
  private abortRequest: ((err: Error) => void) | undefined;
  /** The body's first piece (most answers come in one), then the rest. */
  private first: Buffer | undefined;
  private rest: Buffer[] | undefined;
  private status = 0;
  private requestId: string | null = null;
  private retryAfter: string | undefined;
  private settled = false;
  /** True once the upstream sent response headers (it is up, whatever follows). */
  answered = false;

  /** Until the answer is handed over; then dropped (see {@link settle}). */
  private done: AnswerCallback | undefined;
  private readonly abortListener: AbortListener;

  /** `done` is called once: with the answer, or with undici's error (an abort of `signal` included). */
  constructor(signal: AbortSignal, done: AnswerCallback) {
    this.done = done;
    this.abortListener = listenAbort(signal, this.onAbort);
  }

  private readonly onAbort = (): void => {
    const err = new errors.RequestAbortedError();
    if (this.abortRequest) this.abortRequest(err);
    else this.fail(err);
  };

  onConnect(abort: (err?: Error) => void): void {
    if (this.settled) {
      abort(new errors.RequestAbortedError());
      return;
    }
    this.abortRequest = abort;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[]): boolean {
    if (statusCode < 200) return true; // 1xx: the real answer follows
    this.answered = true;
    this.status = statusCode;
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = rawHeaders[i];
      if (name.length === X_REQUEST_ID.length && name.toString('latin1').toLowerCase() === X_REQUEST_ID) {
        this.requestId = rawHeaders[i + 1].toString('latin1');
      } else if (name.length === RETRY_AFTER.length && name.toString('latin1').toLowerCase() === RETRY_AFTER) {
        this.retryAfter = rawHeaders[i + 1].toString('latin1');
      }
    }
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.first === undefined) this.first = chunk;
    else (this.rest ??= []).push(chunk);
    return true;
  }

  onComplete(): void {
    if (this.settled) return;
    const first = this.first ?? EMPTY;
    const body = this.rest ? Buffer.concat([first, ...this.rest]) : first;
    const retryAfter = this.retryAfter === undefined ? undefined : retryAfterMs(this.retryAfter);
    this.settle(null, {
      kind: 'response',
      status: this.status,
      requestId: this.requestId,
      body,
      retryAfterMs: retryAfter,
      attempts: 0,
    });
  }

  onError(err: Error): void {
    this.fail(err);
  }

  private fail(err: Error): void {
    if (this.settled) return;
    this.settle(err);
  }

  /**
   * Hands the answer (or the error) over, once. First it lets go of the callback and the body chunks (views of whole
   * socket reads), so nothing that still references the handler keeps the request's closures or those reads alive.
   * What the callback throws is rethrown from a microtask: undici catches a handler's exceptions and reports them to
   * the handler's own onError, which a settled handler ignores, so the failure would vanish (and whoever waits on the
   * callback would wait forever); from a microtask it is an uncaught exception like any other.
   */
  private settle(err: Error | null, answer?: UpstreamResponse): void {
    const done = this.done!;
    this.settled = true;
    this.done = undefined;
    this.first = undefined;
    this.rest = undefined;
    unlistenAbort(this.abortListener);
    try {
      done(err, answer);
    } catch (thrown) {
      queueMicrotask(() => {
        throw thrown;
      });
    }
  }
}
