import { listenAbort } from './abort-hub';
import { ConcurrencyLimiter, LimiterAbortError } from './concurrency-limiter';

describe('ConcurrencyLimiter', () => {
  it('never lets more than the limit in and serves keys round-robin', async () => {
    const limiter = new ConcurrencyLimiter(2);
    const order: string[] = [];
    const flush = () => new Promise((r) => setImmediate(r));
    const grab = (key: string) => limiter.acquire(undefined, key).then(() => order.push(key));
    const all = [...Array.from({ length: 6 }, () => grab('big')), grab('small'), grab('small')];
    await flush();
    expect(order).toEqual(['big', 'big']);
    expect(limiter.queued).toBe(6);
    for (let i = 0; i < 6; i++) {
      limiter.release();
      await flush();
      expect(limiter.inFlight).toBe(2);
    }
    await Promise.all(all);
    // The small batch alternates with the big one instead of waiting behind all of it.
    expect(order).toEqual(['big', 'big', 'big', 'small', 'big', 'small', 'big', 'big']);
  });

  it('acquireWith calls back at once for a free slot or an aborted signal, and from release for a waiter', () => {
    const limiter = new ConcurrencyLimiter(1);
    const calls: string[] = [];
    limiter.acquireWith(undefined, 'a', (err) => calls.push(err ? 'refused' : 'first'));
    expect(calls).toEqual(['first']);
    const ac = new AbortController();
    limiter.acquireWith(ac.signal, 'a', (err) => calls.push(err ? 'aborted' : 'second'));
    limiter.acquireWith(undefined, 'b', (err) => calls.push(err ? 'refused' : 'third'));
    expect(limiter.queued).toBe(2);
    ac.abort();
    expect(calls).toEqual(['first', 'aborted']);
    expect(limiter.queued).toBe(1);
    limiter.release();
    // Granted inside release, before it returns: no promise, no tick.
    expect(calls).toEqual(['first', 'aborted', 'third']);
    expect(limiter.inFlight).toBe(1);
    const gone = new AbortController();
    gone.abort();
    limiter.acquireWith(gone.signal, 'c', (err) => calls.push(err instanceof LimiterAbortError ? 'gone' : 'bad'));
    expect(calls.at(-1)).toBe('gone');
    expect(limiter.queued).toBe(0);
  });

  it('grants thousands of waiters that give their slot straight back without growing the stack', () => {
    const limiter = new ConcurrencyLimiter(1);
    expect(limiter.tryAcquire()).toBe(true);
    let granted = 0;
    for (let i = 0; i < 20_000; i++) {
      limiter.acquireWith(undefined, `k${i % 7}`, (err) => {
        if (!err) granted++;
        limiter.release(); // an attempt that fails before it is sent
      });
    }
    limiter.release();
    expect(granted).toBe(20_000);
    expect(limiter.inFlight).toBe(0);
    expect(limiter.queued).toBe(0);
  });

  it('on a cancel, waiters granted by requests leaving before them get their abort, not a slot', () => {
    // As in a chunk: requests in flight listened on the signal before the waiters queued behind them did.
    const limiter = new ConcurrencyLimiter(2000);
    const ac = new AbortController();
    for (let i = 0; i < 2000; i++) {
      expect(limiter.tryAcquire()).toBe(true);
      listenAbort(ac.signal, () => limiter.release());
    }
    const outcomes = new Map<string, number>();
    for (let i = 0; i < 4000; i++) {
      limiter.acquireWith(ac.signal, 'batch', (err) => {
        const kind = err instanceof LimiterAbortError ? 'aborted' : 'granted';
        outcomes.set(kind, (outcomes.get(kind) ?? 0) + 1);
        if (!err) limiter.release();
      });
    }
    expect(() => ac.abort()).not.toThrow();
    expect(Object.fromEntries(outcomes)).toEqual({ aborted: 4000 });
    expect(limiter.inFlight).toBe(0);
    expect(limiter.queued).toBe(0);
  });

  it('halves on a 429 and grows back additively; aborted waiters leave the queue', async () => {
    const limiter = new ConcurrencyLimiter(8);
    limiter.onThrottled();
    expect(limiter.limit).toBe(4);
    limiter.onThrottled();
    limiter.onThrottled();
    limiter.onThrottled();
    expect(limiter.limit).toBe(1);
    for (let i = 0; i < 20; i++) limiter.onSuccess();
    expect(limiter.limit).toBeGreaterThan(1);
    expect(limiter.limit).toBeLessThanOrEqual(8);

    const one = new ConcurrencyLimiter(1);
    await one.acquire();
    const ac = new AbortController();
    const waiting = one.acquire(ac.signal, 'k');
    expect(one.queued).toBe(1);
    ac.abort();
    await expect(waiting).rejects.toBeInstanceOf(LimiterAbortError);
    expect(one.queued).toBe(0);
    one.release();
    expect(one.inFlight).toBe(0);
  });

  it('keeps to a share that moves: fewer let in until those in flight are under it, more let waiters in at once', async () => {
    const limiter = new ConcurrencyLimiter(8, 4);
    const flush = () => new Promise((r) => setImmediate(r));
    let admitted = 0;
    const grab = () => limiter.acquire().then(() => admitted++);
    for (let i = 0; i < 8; i++) void grab();
    await flush();
    expect([admitted, limiter.limit, limiter.allowance]).toEqual([4, 4, 8]);
    limiter.setShare(2);
    limiter.release();
    limiter.release();
    await flush();
    expect([admitted, limiter.inFlight]).toEqual([4, 2]);
    limiter.setShare(7);
    await flush();
    expect([admitted, limiter.inFlight, limiter.queued]).toEqual([8, 6, 0]);
    // A 429 halves what is in use (the share), not the larger AIMD ceiling.
    limiter.onThrottled();
    expect(limiter.limit).toBe(3);
    limiter.setShare(100);
    expect(limiter.share).toBe(8);
  });

  it('after a 429, grows back only to one past its share, and halves from what was in use after a cut', async () => {
    const limiter = new ConcurrencyLimiter(8, 2);
    limiter.onThrottled();
    expect(limiter.allowance).toBe(1);
    for (let i = 0; i < 100; i++) limiter.onSuccess();
    // One past the share: enough to ask the supervisor for more, not a ceiling no answer has tested.
    expect(limiter.allowance).toBe(3);
    limiter.setShare(6);
    for (let i = 0; i < 100; i++) limiter.onSuccess();
    expect(limiter.allowance).toBe(7);

    const cut = new ConcurrencyLimiter(8);
    for (let i = 0; i < 8; i++) await cut.acquire();
    cut.setShare(2);
    // Eight were in flight when the 429 came, so four are allowed, not one.
    cut.onThrottled();
    expect(cut.allowance).toBe(4);
  });
  it('serves owners by weight first, then the batches of the chosen owner round-robin', () => {
    const limiter = new ConcurrencyLimiter(1, 1, (owner) => (owner === 'b' ? 3 : 1));
    expect(limiter.tryAcquire('a')).toBe(true);
    const order: string[] = [];
    // Owner a queued first with five batches, owner b (weight 3) afterwards with one.
    for (let i = 0; i < 40; i++) {
      for (let batch = 1; batch <= 5; batch++) {
        const key = `a${batch}`;
        limiter.acquireWith(undefined, key, () => order.push(key), 'a');
      }
    }
    for (let i = 0; i < 40; i++) limiter.acquireWith(undefined, 'b1', () => order.push('b1'), 'b');
    for (let i = 0; i < 40; i++) limiter.release(order.length === 0 ? 'a' : order.at(-1)!.slice(0, 1));
    // b gets three of every four slots, whatever a's number of batches; a's go to its batches in turn.
    expect(order.filter((k) => k === 'b1')).toHaveLength(30);
    expect(order.filter((k) => k !== 'b1')).toEqual(['a1', 'a2', 'a3', 'a4', 'a5', 'a1', 'a2', 'a3', 'a4', 'a5']);
    for (let i = 0; i + 4 <= order.length; i += 4)
      expect(order.slice(i, i + 4).filter((k) => k === 'b1')).toHaveLength(3);
  });

  it('gives an owner that had nothing waiting no credit for the time it was idle', () => {
    const limiter = new ConcurrencyLimiter(1);
    expect(limiter.tryAcquire('a')).toBe(true);
    const order: string[] = [];
    for (let i = 0; i < 200; i++) limiter.acquireWith(undefined, 'a1', () => order.push('a'), 'a');
    for (let i = 0; i < 100; i++) limiter.release('a');
    for (let i = 0; i < 10; i++) limiter.acquireWith(undefined, 'b1', () => order.push('b'), 'b');
    for (let i = 0; i < 20; i++) limiter.release(order.at(-1));
    // Alternating from b's arrival, not ten b's in a row for the hundred slots a had alone.
    expect(order.slice(100)).toHaveLength(20);
    for (let i = 100; i < 120; i += 2) expect(order.slice(i, i + 2).sort()).toEqual(['a', 'b']);
  });

  it('puts a batch that starts waiting at the back of the round-robin, behind every batch already waiting', () => {
    const limiter = new ConcurrencyLimiter(1);
    expect(limiter.tryAcquire()).toBe(true);
    const order: string[] = [];
    const wait = (key: string, n: number) => {
      for (let i = 0; i < n; i++) limiter.acquireWith(undefined, key, () => order.push(key));
    };
    wait('a', 3);
    wait('b', 3);
    limiter.release(); // a's turn; b is next
    wait('c', 2); // joins behind b and a, whose turns come first
    for (let i = 0; i < 7; i++) limiter.release();
    expect(order).toEqual(['a', 'b', 'a', 'c', 'b', 'a', 'c', 'b']);
  });

  it('keeps the round-robin when waiters leave their batch from anywhere in the ring', () => {
    const limiter = new ConcurrencyLimiter(1);
    expect(limiter.tryAcquire()).toBe(true);
    const order: string[] = [];
    const gone = new AbortController();
    limiter.acquireWith(undefined, 'a', () => order.push('a'));
    limiter.acquireWith(gone.signal, 'b', (err) => order.push(err ? 'b aborted' : 'b'));
    limiter.acquireWith(undefined, 'c', () => order.push('c'));
    limiter.acquireWith(undefined, 'a', () => order.push('a'));
    limiter.release(); // a; b is next
    gone.abort(); // b leaves the ring: c is next
    limiter.release();
    limiter.release();
    expect(order).toEqual(['a', 'b aborted', 'c', 'a']);
    expect(limiter.queued).toBe(0);
  });

  it('reuses a batch queue that emptied, and lets go of the empty queues of batches it no longer serves', () => {
    const limiter = new ConcurrencyLimiter(1);
    expect(limiter.tryAcquire()).toBe(true);
    const line = () =>
      (limiter as unknown as { owners: Map<string, { batches: Map<string, unknown> }> }).owners.get('')!;
    // One request at a time through the same batch (a chunk waiting for admission): the same queue every time.
    limiter.acquireWith(undefined, 'busy', () => undefined);
    const queue = line().batches.get('busy');
    for (let i = 0; i < 100; i++) {
      limiter.release();
      limiter.acquireWith(undefined, 'busy', () => undefined);
    }
    expect(line().batches.get('busy')).toBe(queue);
    // A thousand batches that each waited once and finished: their empty queues are dropped, a bounded few kept.
    for (let i = 0; i < 1000; i++) {
      limiter.acquireWith(undefined, `done-${i}`, () => undefined);
      limiter.release(); // grants busy's waiter, then done-i's on the next
      limiter.release();
      limiter.acquireWith(undefined, 'busy', () => undefined);
    }
    expect(line().batches.size).toBeLessThanOrEqual(40);
    expect(limiter.queued).toBe(1);
    limiter.release();
    expect(limiter.queued).toBe(0);
  });

  it('counts what each owner holds and waits for, and forgets owners with neither', () => {
    const limiter = new ConcurrencyLimiter(2);
    expect(limiter.tryAcquire('a')).toBe(true);
    limiter.acquireWith(undefined, 'a1', () => undefined, 'a');
    limiter.acquireWith(undefined, 'b1', () => undefined, 'b');
    limiter.acquireWith(undefined, 'b1', () => undefined, 'b');
    expect(Object.fromEntries(limiter.byOwner())).toEqual({
      a: { inFlight: 2, queued: 0 },
      b: { inFlight: 0, queued: 2 },
    });
    limiter.release('a');
    limiter.release('a');
    expect(Object.fromEntries(limiter.byOwner())).toEqual({ b: { inFlight: 2, queued: 0 } });
    limiter.release('b');
    limiter.release('b');
    expect(limiter.byOwner().size).toBe(0);
  });
});
