/** Thrown to a waiter whose signal aborted before it got a slot. */
export class LimiterAbortError extends Error {
  constructor() {
    super('aborted while waiting for an upstream slot');
  }
}

/**
 * A FIFO semaphore whose size adapts (AIMD): a throttled answer halves the allowed concurrency, each success
 * adds 1/limit back, up to the configured maximum. One per upstream per worker process, shared by every chunk.
 */
export class ConcurrencyLimiter {
  private active = 0;
  private allowed: number;
  private readonly waiters: { resolve: () => void; reject: (e: Error) => void; signal?: AbortSignal }[] = [];

  constructor(readonly max: number) {
    this.allowed = max;
  }

  /** Requests holding a slot now. */
  get inFlight(): number {
    return this.active;
  }

  /** The current allowed concurrency. */
  get limit(): number {
    return Math.floor(this.allowed);
  }

  /** Waits for a slot; rejects with LimiterAbortError if `signal` aborts first. */
  acquire(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(new LimiterAbortError());
    if (this.active < this.limit && this.waiters.length === 0) {
      this.active++;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const waiter = { resolve, reject, signal };
      this.waiters.push(waiter);
      signal?.addEventListener(
        'abort',
        () => {
          const i = this.waiters.indexOf(waiter);
          if (i !== -1) {
            this.waiters.splice(i, 1);
            reject(new LimiterAbortError());
          }
        },
        { once: true },
      );
    });
  }

  /** Returns a slot and wakes waiters while the limit allows. */
  release(): void {
    this.active--;
    this.drain();
  }

  /** An answer that was not throttled: grow back additively. */
  onSuccess(): void {
    if (this.allowed < this.max) {
      this.allowed = Math.min(this.max, this.allowed + 1 / this.allowed);
      this.drain();
    }
  }

  /** A 429: shrink multiplicatively, never below one. */
  onThrottled(): void {
    this.allowed = Math.max(1, this.allowed / 2);
  }

  private drain(): void {
    while (this.active < this.limit && this.waiters.length) {
      this.active++;
      this.waiters.shift()!.resolve();
    }
  }
}
