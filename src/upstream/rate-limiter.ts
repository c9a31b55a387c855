import { LimiterAbortError } from './concurrency-limiter';

/**
 * A token bucket: `perMinute` tokens refill evenly, bursts up to one second's worth (at least one request's
 * worth). Waiters are served in order; a take larger than the bucket waits for a full bucket and then runs,
 * leaving the bucket in debt, so one large request can never block forever.
 */
export class RateLimiter {
  private tokens: number;
  private last = Date.now();
  private readonly capacity: number;
  private readonly perMs: number;
  private queue: Promise<void> = Promise.resolve();

  constructor(readonly perMinute: number) {
    this.perMs = perMinute / 60000;
    this.capacity = Math.max(1, perMinute / 60);
    this.tokens = this.capacity;
  }

  private refill(): void {
    const now = Date.now();
    this.tokens = Math.min(this.capacity, this.tokens + (now - this.last) * this.perMs);
    this.last = now;
  }

  /** Waits until `amount` tokens (capped at the bucket size) are available, then takes `amount`. */
  take(amount: number, signal?: AbortSignal): Promise<void> {
    const turn = this.queue
      .then(() => this.wait(Math.min(amount, this.capacity), signal))
      .then(() => {
        this.tokens -= amount;
      });
    // The next waiter runs after this one whether it was served or aborted.
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  /** Adjusts after the fact: positive takes more (actual use above the estimate), negative refunds. */
  adjust(delta: number): void {
    this.refill();
    this.tokens = Math.min(this.capacity, this.tokens - delta);
  }

  private async wait(need: number, signal?: AbortSignal): Promise<void> {
    for (;;) {
      if (signal?.aborted) throw new LimiterAbortError();
      this.refill();
      if (this.tokens >= need) return;
      const ms = Math.max(1, Math.ceil((need - this.tokens) / this.perMs));
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, ms);
        function done() {
          signal?.removeEventListener('abort', done);
          clearTimeout(timer);
          resolve();
        }
        signal?.addEventListener('abort', done, { once: true });
      });
    }
  }
}
