import { listenAbort, unlistenAbort, type AbortListener } from './abort-hub';

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
  /** The next waiter of the same batch (a linked queue: see {@link BatchQueue}). */
  next: Waiter | undefined;
  signal?: AbortSignal;
  /** The waiter's abort listener, removed once it gets a slot (a signal may outlive many waits). */
  listener?: AbortListener;
}

/** What one owner holds and waits for. */
export interface OwnerCounts {
  inFlight: number;
  queued: number;
}

/**
 * One batch's waiters within its owner's line, linked first to last. Linked rather than in an array: an array that
 * takes a waiter at its end and gives one from its start for every request gets a new backing store every few dozen
 * requests, and a replaced store that had been promoted keeps the waiters it held, and through them their requests,
 * alive until the next full collection.
 */
interface BatchQueue {
  readonly key: string;
  /** The first waiter, or undefined when the batch has none. */
  first: Waiter | undefined;
  last: Waiter | undefined;
}

/** One owner's waiters, by batch, and its place in the weighted order. */
interface OwnerLine {
  readonly owner: string;
  /** Its stride-scheduling pass: the owner with the smallest is served next, and then moves on 1/weight. */
  pass: number;
  readonly weight: number;
  /**
   * Each batch's queue, kept while it is empty (see {@link ConcurrencyLimiter.sweep}): a Map or Set that takes an
   * entry and deletes it for every request makes V8 rebuild its table every few requests, and each old table, once
   * promoted, keeps every newer one (and what they held) alive until the next full collection. Measured on B1's
   * worker, that kept about 2 MB of finished requests alive through every young-generation collection.
   */
  readonly batches: Map<string, BatchQueue>;
  /** The batches with waiters, served round-robin from `turn`. */
  readonly ring: BatchQueue[];
  turn: number;
  queued: number;
  inFlight: number;
}

/** Empty batch queues an owner's line keeps, past those with waiters, before {@link ConcurrencyLimiter.sweep} drops them. */
const SPARE_QUEUES = 32;

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
    const waiter: Waiter = { done, next: undefined, signal };
    const line = this.lineOf(owner);
    if (line.queued === 0) {
      // Joins where the order stands now: what it is owed from before it waited is kept, idle time earns nothing.
      line.pass = Math.max(line.pass, this.virtualTime);
      this.ready.push(line);
    }
    let queue = line.batches.get(key);
    if (!queue) {
      queue = { key, first: undefined, last: undefined };
      line.batches.set(key, queue);
    }
    if (!queue.first) {
      // Joins at the back of the round-robin: just before the batch whose turn is next.
      line.ring.splice(line.turn, 0, queue);
      if (line.ring.length > 1) line.turn++;
    }
    if (queue.last) queue.last.next = waiter;
    else queue.first = waiter;
    queue.last = waiter;
    line.queued++;
    this.waiting++;
    if (signal) {
      waiter.listener = listenAbort(signal, () => this.abandon(owner, key, waiter));
    }
  }

  private abandon(owner: string, key: string, waiter: Waiter): void {
    const line = this.owners.get(owner);
    const queue = line?.batches.get(key);
    if (!line || !queue || !unlink(queue, waiter)) return;
    if (!queue.first) this.leaveRing(line, line.ring.indexOf(queue));
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
        // The owner's batches round-robin: the ring's turn moves on past the served batch.
        const queue = line.ring[line.turn];
        const waiter = queue.first!;
        unlink(queue, waiter);
        if (!queue.first) this.leaveRing(line, line.turn);
        else line.turn = (line.turn + 1) % line.ring.length;
        this.waiting--;
        if (waiter.listener) unlistenAbort(waiter.listener);
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

  /**
   * Takes the batch at `index` of `line`'s ring out of the round-robin (it has no waiters left); the next batch in
   * turn stays next. Its queue stays in `batches` for its next waiter, until there are many such.
   */
  private leaveRing(line: OwnerLine, index: number): void {
    line.ring.splice(index, 1);
    if (index < line.turn) line.turn--;
    if (line.turn >= line.ring.length) line.turn = 0;
    if (line.batches.size > line.ring.length + SPARE_QUEUES) this.sweep(line);
  }

  /** Drops `line`'s empty batch queues, all at once (each batch a line has served leaves one). */
  private sweep(line: OwnerLine): void {
    for (const [key, queue] of line.batches) if (!queue.first) line.batches.delete(key);
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
        ring: [],
        turn: 0,
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

/** Takes `waiter` out of `queue` (false if it is not there) and clears its link. */
function unlink(queue: BatchQueue, waiter: Waiter): boolean {
  let before: Waiter | undefined;
  let at = queue.first;
  while (at && at !== waiter) {
    before = at;
    at = at.next;
  }
  if (!at) return false;
  if (before) before.next = waiter.next;
  else queue.first = waiter.next;
  if (queue.last === waiter) queue.last = before;
  waiter.next = undefined;
  return true;
}
