import { listenAbort, unlistenAbort } from './abort-hub';

/** Thrown to a waiter whose signal aborted before it got a slot. */
export class LimiterAbortError extends Error {
  constructor() {
    super('aborted while waiting for an upstream slot');
  }
}

/** Called once: with nothing when the slot is granted, or with LimiterAbortError when the signal aborted first. */
export type AcquireCallback = (err: LimiterAbortError | null) => void;

interface Waiter {
  done: AcquireCallback;
  /** The waiter's abort listener, removed once it gets a slot (a signal may outlive many waits). */
  signal?: AbortSignal;
  onAbort?: () => void;
}

/**
 * A semaphore whose size adapts (AIMD): a throttled answer halves the allowed concurrency, each success adds
 * 1/limit back, up to the configured maximum. One per upstream per worker process, shared by every chunk.
 * Waiters are queued per key (the batch id) and served round-robin across keys, so a huge batch queued first
 * cannot starve a small batch started later: each gets every other free slot.
 *
 * With several worker processes, each one's part of the upstream's concurrency is its `share`, which the
 * supervisor moves to where the work is ({@link setShare}); the limit is the smaller of the share and the AIMD
 * allowance.
 */
export class ConcurrencyLimiter {
  private active = 0;
  private allowed: number;
  private shareOf: number;
  private waiting = 0;
  /** True while {@link drain} runs (it is not re-entered: see there). */
  private draining = false;
  private readonly queues = new Map<string, Waiter[]>();

  /** `max` bounds the AIMD allowance; `share` (default `max`) is this process's part of it. */
  constructor(
    readonly max: number,
    share = max,
  ) {
    this.allowed = max;
    this.shareOf = Math.min(share, max);
  }

  /** This process's part of the concurrency (the whole of it for a single worker process). */
  get share(): number {
    return this.shareOf;
  }

  /**
   * Moves this process's share. A smaller share lets no new request in until those in flight are under it; a
   * larger one lets waiters in at once.
   */
  setShare(share: number): void {
    this.shareOf = Math.max(0, Math.min(share, this.max));
    this.drain();
  }

  /** The AIMD allowance, whatever the share (how much this process could use if given it). */
  get allowance(): number {
    return Math.floor(this.allowed);
  }

  /** Requests holding a slot now. */
  get inFlight(): number {
    return this.active;
  }

  /** Requests waiting for a slot. */
  get queued(): number {
    return this.waiting;
  }

  /** The current allowed concurrency: the AIMD allowance within the share. */
  get limit(): number {
    return Math.min(Math.floor(this.allowed), this.shareOf);
  }

  /** Takes a slot if one is free and nobody waits for one; false otherwise (then `acquire` waits in line). */
  tryAcquire(): boolean {
    if (this.active < this.limit && this.waiting === 0) {
      this.active++;
      return true;
    }
    return false;
  }

  /** Waits for a slot in `key`'s queue; rejects with LimiterAbortError if `signal` aborts first. */
  acquire(signal?: AbortSignal, key = ''): Promise<void> {
    return new Promise((resolve, reject) => this.acquireWith(signal, key, (err) => (err ? reject(err) : resolve())));
  }

  /**
   * {@link acquire} with a callback (no promise per wait). A slot granted at once, or a signal already aborted, calls
   * back before this returns; a queued waiter is called back from the `release` that frees its slot.
   */
  acquireWith(signal: AbortSignal | undefined, key: string, done: AcquireCallback): void {
    if (signal?.aborted) return done(new LimiterAbortError());
    if (this.tryAcquire()) return done(null);
    const waiter: Waiter = { done, signal };
    const queue = this.queues.get(key) ?? [];
    if (queue.length === 0) this.queues.set(key, queue);
    queue.push(waiter);
    this.waiting++;
    if (signal) {
      waiter.onAbort = () => this.abandon(key, waiter);
      listenAbort(signal, waiter.onAbort);
    }
  }

  private abandon(key: string, waiter: Waiter): void {
    const queue = this.queues.get(key);
    const i = queue?.indexOf(waiter) ?? -1;
    if (!queue || i === -1) return;
    queue.splice(i, 1);
    if (queue.length === 0) this.queues.delete(key);
    this.waiting--;
    waiter.done(new LimiterAbortError());
  }

  /** Returns a slot and wakes waiters while the limit allows. */
  release(): void {
    this.active--;
    this.drain();
  }

  /**
   * An answer that was not throttled: grow back additively, up to one past the share. Growing further would only
   * be a number that no answer has tested: a larger share given later would be used all at once. One past the
   * share lets a throttled process show the supervisor it could use one more, and so grow its share again.
   */
  onSuccess(): void {
    const ceiling = Math.min(this.max, this.shareOf + 1);
    if (this.allowed < ceiling) {
      this.allowed = Math.min(ceiling, this.allowed + 1 / this.allowed);
      this.drain();
    }
  }

  /**
   * A 429: halve what was in use (the limit, or more while a share cut a moment ago is still above it), never
   * below one.
   */
  onThrottled(): void {
    const inUse = Math.min(this.allowed, Math.max(this.shareOf, this.active));
    this.allowed = Math.max(1, inUse / 2);
  }

  /**
   * Grants queued waiters while the limit allows. Waiters are called back synchronously, and a callback may release
   * a slot at once (an attempt that fails before it is sent): a nested call returns and this loop takes the freed
   * slot, so thousands of such waiters cost no stack depth. A waiter whose signal has aborted gets its
   * LimiterAbortError without a slot (its own abort listener may not have run yet: a cancel reaches them in turn).
   */
  private drain(): void {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.active < this.limit && this.waiting > 0) {
        // The Map iterates keys in insertion order; re-inserting a served key moves it to the back.
        const [key, queue] = this.queues.entries().next().value as [string, Waiter[]];
        const waiter = queue.shift()!;
        this.queues.delete(key);
        if (queue.length) this.queues.set(key, queue);
        this.waiting--;
        if (waiter.onAbort) unlistenAbort(waiter.signal!, waiter.onAbort);
        if (waiter.signal?.aborted) {
          waiter.done(new LimiterAbortError());
          continue;
        }
        this.active++;
        waiter.done(null);
      }
    } finally {
      this.draining = false;
    }
  }
}
