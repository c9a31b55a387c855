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

/** What one owner holds and waits for. */
export interface OwnerCounts {
  inFlight: number;
  queued: number;
}

/** One owner's waiters, by batch, and its place in the weighted order. */
interface OwnerLine {
  readonly owner: string;
  /** Its stride-scheduling pass: the owner with the smallest is served next, and then moves on 1/weight. */
  pass: number;
  readonly weight: number;
  /** Waiters by batch; the Map iterates in insertion order, and re-inserting a served batch moves it to the back. */
  readonly batches: Map<string, Waiter[]>;
  queued: number;
  inFlight: number;
}

/**
 * A semaphore whose size adapts (AIMD): a throttled answer halves the allowed concurrency, each success adds
 * 1/limit back, up to the configured maximum. One per upstream per worker process, shared by every chunk.
 *
 * Waiters are queued per owner (the tenant) and, within it, per batch. A freed slot goes to the owner with waiters
 * whose share is most behind, by weight (stride scheduling: an owner of weight 3 is served three times for each time
 * one of weight 1 is), then to that owner's batches round-robin. So an owner with ten batches queued first gets no
 * more than its weighted share against an owner with one batch started later, and within an owner a huge batch
 * cannot starve a small one. An owner joins the order where it stands now, so time it had nothing waiting earns it
 * no burst later.
 *
 * With several worker processes, each one's part of the upstream's concurrency is its `share`, which the
 * supervisor moves to where the work is ({@link setShare}); the limit is the smaller of the share and the AIMD
 * allowance. The weighted order holds within each process.
 */
export class ConcurrencyLimiter {
  private active = 0;
  private allowed: number;
  private shareOf: number;
  private waiting = 0;
  /** True while {@link drain} runs (it is not re-entered: see there). */
  private draining = false;
  /** Every owner that holds a slot or waits for one (few: owners are the tenants of the API keys). */
  private readonly owners = new Map<string, OwnerLine>();
  /** The owners with waiters, in the order they joined (ties go to the earlier). */
  private readonly ready: OwnerLine[] = [];
  /** The pass of the owner served last: where an owner that starts waiting joins the order. */
  private virtualTime = 0;

  /**
   * `max` bounds the AIMD allowance; `share` (default `max`) is this process's part of it; `weightOf` gives each
   * owner's weight (default 1 for all).
   */
  constructor(
    readonly max: number,
    share = max,
    private readonly weightOf: (owner: string) => number = () => 1,
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

  /** What each owner holds and waits for now (owners with neither are left out). */
  byOwner(): Map<string, OwnerCounts> {
    const counts = new Map<string, OwnerCounts>();
    for (const [owner, { inFlight, queued }] of this.owners) {
      if (inFlight > 0 || queued > 0) counts.set(owner, { inFlight, queued });
    }
    return counts;
  }

  /**
   * Takes a slot for `owner` if one is free and nobody waits for one; false otherwise (then `acquire` waits in line).
   * The slot is given back with `release(owner)`.
   */
  tryAcquire(owner = ''): boolean {
    if (this.active < this.limit && this.waiting === 0) {
      this.active++;
      this.lineOf(owner).inFlight++;
      return true;
    }
    return false;
  }

  /** Waits for a slot in `owner`'s line, batch `key`; rejects with LimiterAbortError if `signal` aborts first. */
  acquire(signal?: AbortSignal, key = '', owner = ''): Promise<void> {
    return new Promise((resolve, reject) =>
      this.acquireWith(signal, key, (err) => (err ? reject(err) : resolve()), owner),
    );
  }

  /**
   * {@link acquire} with a callback (no promise per wait). A slot granted at once, or a signal already aborted, calls
   * back before this returns; a queued waiter is called back from the `release` that frees its slot.
   */
  acquireWith(signal: AbortSignal | undefined, key: string, done: AcquireCallback, owner = ''): void {
    if (signal?.aborted) return done(new LimiterAbortError());
    if (this.tryAcquire(owner)) return done(null);
    const waiter: Waiter = { done, signal };
    const line = this.lineOf(owner);
    if (line.queued === 0) {
      // Joins where the order stands now: what it is owed from before it waited is kept, idle time earns nothing.
      line.pass = Math.max(line.pass, this.virtualTime);
      this.ready.push(line);
    }
    const queue = line.batches.get(key) ?? [];
    if (queue.length === 0) line.batches.set(key, queue);
    queue.push(waiter);
    line.queued++;
    this.waiting++;
    if (signal) {
      waiter.onAbort = () => this.abandon(owner, key, waiter);
      listenAbort(signal, waiter.onAbort);
    }
  }

  private abandon(owner: string, key: string, waiter: Waiter): void {
    const line = this.owners.get(owner);
    const queue = line?.batches.get(key);
    const i = queue?.indexOf(waiter) ?? -1;
    if (!line || !queue || i === -1) return;
    queue.splice(i, 1);
    if (queue.length === 0) line.batches.delete(key);
    this.waiting--;
    this.dequeued(line);
    waiter.done(new LimiterAbortError());
  }

  /** Returns `owner`'s slot and wakes waiters while the limit allows. */
  release(owner = ''): void {
    this.active--;
    const line = this.owners.get(owner);
    if (line) {
      line.inFlight--;
      this.forgetIfIdle(line);
    }
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
        const line = this.nextOwner();
        // The owner's batches round-robin: re-inserting the served batch moves it to the back.
        const [key, queue] = line.batches.entries().next().value as [string, Waiter[]];
        const waiter = queue.shift()!;
        line.batches.delete(key);
        if (queue.length) line.batches.set(key, queue);
        this.waiting--;
        if (waiter.onAbort) unlistenAbort(waiter.signal!, waiter.onAbort);
        if (waiter.signal?.aborted) {
          this.dequeued(line);
          waiter.done(new LimiterAbortError());
          continue;
        }
        this.active++;
        line.inFlight++;
        this.dequeued(line);
        waiter.done(null);
      }
    } finally {
      this.draining = false;
    }
  }

  /** The owner with waiters whose turn it is (smallest pass), moved on by its stride. */
  private nextOwner(): OwnerLine {
    let next = this.ready[0];
    for (let i = 1; i < this.ready.length; i++) if (this.ready[i].pass < next.pass) next = this.ready[i];
    this.virtualTime = next.pass;
    next.pass += 1 / next.weight;
    return next;
  }

  /** One of `line`'s waiters left the queue (granted or abandoned). */
  private dequeued(line: OwnerLine): void {
    if (--line.queued > 0) return;
    this.ready.splice(this.ready.indexOf(line), 1);
    this.forgetIfIdle(line);
  }

  /** `owner`'s line, made on first use. */
  private lineOf(owner: string): OwnerLine {
    let line = this.owners.get(owner);
    if (!line) {
      line = {
        owner,
        pass: this.virtualTime,
        weight: this.weightOf(owner),
        batches: new Map(),
        queued: 0,
        inFlight: 0,
      };
      this.owners.set(owner, line);
    }
    return line;
  }

  /**
   * Drops an owner that holds and waits for nothing and is owed nothing (its pass is not ahead of the order): it
   * would join where the order stands anyway, so only owners still paying back a burst are remembered.
   */
  private forgetIfIdle(line: OwnerLine): void {
    if (line.queued === 0 && line.inFlight === 0 && line.pass <= this.virtualTime) this.owners.delete(line.owner);
  }
}
