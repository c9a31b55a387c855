import { ConcurrencyBroker, fairShares, type ShareChange, type ShareMessage } from './concurrency-broker';

describe('fairShares', () => {
  it('splits evenly when everyone wants more than an even part', () => {
    expect(fairShares(256, [500, 300])).toEqual([128, 128]);
    expect(fairShares(10, [9, 9, 9])).toEqual([3, 3, 4]);
  });

  it('meets small demands first and gives the rest to the processes that want more', () => {
    expect(fairShares(256, [0, 500])).toEqual([0, 256]);
    expect(fairShares(256, [40, 500])).toEqual([40, 216]);
    expect(fairShares(30, [5, 100, 8])).toEqual([5, 17, 8]);
    expect(fairShares(1, [3, 3])).toEqual([0, 1]);
  });

  it('splits what nobody asked for evenly, and always adds up to the total', () => {
    expect(fairShares(256, [0, 0])).toEqual([128, 128]);
    expect(fairShares(256, [10, 0])).toEqual([133, 123]);
    expect(fairShares(100, [70, 0])).toEqual([85, 15]);
    for (const demands of [[0], [3, 1, 4, 1, 5], [1000, 0, 0, 2]]) {
      expect(fairShares(50, demands).reduce((a, b) => a + b)).toBe(50);
    }
  });
});

/** A worker process as the broker sees it: what it applies and holds, and the messages on their way to it. */
interface Proc {
  alive: boolean;
  share: number;
  seq: number;
  inFlight: number;
  want: number;
  inbox: ShareMessage[];
}

describe('ConcurrencyBroker', () => {
  const TOTAL = 20;

  function setUp(count: number) {
    const broker = new ConcurrencyBroker([{ name: 'u', total: TOTAL }], count);
    const procs: Proc[] = Array.from({ length: count }, (_, i) => ({
      alive: true,
      share: broker.started(i).u,
      seq: 0,
      inFlight: 0,
      want: 0,
      inbox: [],
    }));
    const deliver = (changes: ShareChange[]) => {
      for (const c of changes) if (procs[c.index].alive) procs[c.index].inbox.push(c.message);
    };
    const report = (i: number) => {
      const p = procs[i];
      const demand = Math.max(p.inFlight, p.want);
      deliver(broker.report(i, { u: { share: p.share, seq: p.seq, inFlight: p.inFlight, demand } }));
    };
    const apply = (i: number) => {
      const p = procs[i];
      const m = p.inbox.shift();
      if (m) {
        p.share = m.share;
        p.seq = m.seq;
      }
    };
    return { broker, procs, deliver, report, apply };
  }

  it('moves the whole concurrency to the one process with work', () => {
    const { procs, report, apply } = setUp(2);
    expect(procs.map((p) => p.share)).toEqual([10, 10]);
    procs[1].want = 100;
    report(1); // process 0 is told to give up its share; nothing can be given yet
    expect(procs[1].inbox).toEqual([]);
    apply(0);
    report(0); // it applied 0 and holds nothing: process 1 gets it all
    apply(1);
    expect(procs.map((p) => p.share)).toEqual([0, 20]);
  });

  it('gives a taken share away only once its process holds no more than its new share', () => {
    const { procs, report, apply } = setUp(3);
    expect(procs.map((p) => p.share)).toEqual([7, 7, 6]);
    // Process 0 alone has work and gets it all.
    procs[0].want = 100;
    report(0);
    [1, 2].forEach((i) => (apply(i), report(i)));
    while (procs[0].inbox.length) apply(0); // 14 once process 1 gave up its share, then 20
    procs[0].inFlight = 20;
    report(0);
    expect(procs.map((p) => p.share)).toEqual([20, 0, 0]);
    // The other two get work: process 0 is told to keep 6, but while it holds more nothing can be given.
    procs[1].want = procs[2].want = 100;
    report(1);
    report(2);
    while (procs[0].inbox.length) apply(0); // 9 for two processes with work, then 6 for three
    expect(procs[0].share).toBe(6);
    report(0);
    expect(procs[1].inbox.length + procs[2].inbox.length).toBe(0);
    procs[0].inFlight = 10; // 8 came back: given out as they free up
    report(0);
    [1, 2].forEach(apply);
    expect(procs.map((p) => p.share)).toEqual([6, 7, 3]);
    procs[0].inFlight = 6;
    report(0);
    apply(2);
    expect(procs.map((p) => p.share)).toEqual([6, 7, 7]);
  });

  it('trusts only a report under the latest share (a grow still on its way may be applied after it)', () => {
    const { procs, report, apply } = setUp(2);
    procs[0].want = 100;
    procs[0].inFlight = 10;
    report(0);
    apply(1);
    report(1);
    expect(procs[0].inbox.map((m) => m.share)).toEqual([20]);
    // Process 1 gets work before process 0 applied 20: process 0 is told 10 again, and its report from before
    // either message (share 10, 10 in flight) must not free anything, since it may still apply 20 first.
    procs[1].want = 100;
    report(1);
    expect(procs[0].inbox.map((m) => m.share)).toEqual([20, 10]);
    report(0);
    expect(procs[1].inbox).toEqual([]);
    apply(0);
    apply(0);
    report(0);
    apply(1);
    expect(procs.map((p) => p.share)).toEqual([10, 10]);
  });

  it('never lets the processes hold more than the total, whatever the order of messages, deaths and restarts', () => {
    let seed = 42;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const { broker, procs, deliver, report, apply } = setUp(3);
    for (let step = 0; step < 20_000; step++) {
      const i = rand(3);
      const p = procs[i];
      switch (rand(7)) {
        case 0:
          apply(i);
          break;
        case 1:
          if (p.alive && p.inFlight < p.share && p.inFlight < p.want) p.inFlight++;
          break;
        case 2:
          if (p.inFlight > 0) p.inFlight--;
          break;
        case 3:
          if (p.alive) report(i);
          break;
        case 4:
          p.want = rand(4) === 0 ? 0 : rand(2 * TOTAL);
          break;
        case 5:
          if (rand(50) === 0 && p.alive) {
            Object.assign(p, { alive: false, inFlight: 0, inbox: [] });
            deliver(broker.exited(i));
          } else if (!p.alive) {
            Object.assign(p, { alive: true, share: broker.started(i).u, seq: 0 });
          }
          break;
        default:
          // A process holds up to its share while it has work.
          while (p.alive && p.inFlight < Math.min(p.share, p.want)) p.inFlight++;
      }
      const held = procs.reduce((sum, q) => sum + q.inFlight, 0);
      const bound = broker.snapshot('u')!.bound.reduce((a, b) => a + b);
      if (held > TOTAL || bound > TOTAL) throw new Error(`step ${step}: ${held} held, bounds add up to ${bound}`);
    }
    // The books end consistent with what each process applies.
    expect(broker.snapshot('u')!.told.reduce((a, b) => a + b)).toBeLessThanOrEqual(TOTAL);
  });
});
