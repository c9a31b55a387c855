import { shareOf } from './routing';

/** Message from a worker process: per upstream, its share as it applies it, what it holds, and what it could use. */
export const CONCURRENCY_DEMAND = 'concurrency-demand';
/** Message to a worker process: its new share of one upstream's concurrency. */
export const CONCURRENCY_SHARE = 'concurrency-share';

/** One upstream in a demand report. */
export interface UpstreamDemand {
  /** The share the process applies now. */
  share: number;
  /** The sequence number of the share message it last applied (0: the share it started with). */
  seq: number;
  /** Requests holding a slot now. */
  inFlight: number;
  /** Requests that want a slot now (in flight or waiting), capped by the AIMD allowance. */
  demand: number;
}

export interface DemandMessage {
  type: typeof CONCURRENCY_DEMAND;
  upstreams: Record<string, UpstreamDemand>;
}

export interface ShareMessage {
  type: typeof CONCURRENCY_SHARE;
  upstream: string;
  share: number;
  /** Counts the shares told to one process for one upstream, so its reports say which one it applies. */
  seq: number;
}

/** A share to send to worker process `index`. */
export interface ShareChange {
  index: number;
  message: ShareMessage;
}

/**
 * Max-min fair parts of `total` for these demands: the smallest demands are met first, each up to an equal part of
 * what is left, and what nobody asked for is split evenly (so a process that gets work starts with a part). The
 * parts add up to `total`.
 */
export function fairShares(total: number, demands: number[]): number[] {
  const n = demands.length;
  const parts = demands.map(() => 0);
  let left = total;
  const order = demands.map((_, i) => i).sort((a, b) => demands[a] - demands[b]);
  order.forEach((i, k) => {
    const give = Math.min(Math.max(0, demands[i]), Math.floor(left / (n - k)));
    parts[i] += give;
    left -= give;
  });
  for (let i = 0; i < n; i++) parts[i] += shareOf(left, i, n);
  return parts;
}

/** One upstream's books: what each process was told, and the most it may be holding. */
interface Books {
  total: number;
  /** The share each process was last told (or started with). */
  told: number[];
  /** The sequence number of that share message (0: the share the process started with). */
  seq: number[];
  /**
   * The most each process may hold: its share once it has applied it, or while a smaller share is on its way, the
   * larger of the old share and what it reported in flight under the new one. The sum never exceeds the total.
   */
  bound: number[];
  demand: number[];
}

/**
 * The supervisor's side of sharing each upstream's concurrency between worker processes. Splitting it evenly and
 * for good leaves half of it idle whenever one process runs out of work while another still has plenty (the last
 * chunks of a batch all landed on one process, or one batch's chunks did). Instead, each process reports what it
 * could use, and the broker moves shares to where the work is: a share is taken from a process first, and given to
 * another only once the first has reported that it holds no more than its new share. So the processes together
 * never hold more than the upstream's concurrency, and a process that dies frees its share for its successor.
 */
export class ConcurrencyBroker {
  private readonly books = new Map<string, Books>();
  private readonly alive: boolean[];

  constructor(upstreams: { name: string; total: number }[], count: number) {
    this.alive = Array.from({ length: count }, () => false);
    for (const u of upstreams) {
      const told = this.alive.map((_, i) => shareOf(u.total, i, count));
      const zeros = told.map(() => 0);
      this.books.set(u.name, { total: u.total, told, seq: [...zeros], bound: [...told], demand: [...zeros] });
    }
  }

  /**
   * The shares process `index` starts with, by upstream name: an equal part at first; after a restart, what the
   * others left of its predecessor's (it asks for more once it has work).
   */
  started(index: number): Record<string, number> {
    this.alive[index] = true;
    const shares: Record<string, number> = {};
    for (const [name, b] of this.books) {
      b.bound[index] = b.told[index];
      b.seq[index] = 0;
      shares[name] = b.told[index];
    }
    return shares;
  }

  /** Process `index` exited: nothing it held is in flight any more, and it wants nothing until its successor asks. */
  exited(index: number): ShareChange[] {
    this.alive[index] = false;
    const changes: ShareChange[] = [];
    for (const [name, b] of this.books) {
      b.bound[index] = b.told[index];
      b.demand[index] = 0;
      changes.push(...this.rebalance(name, b));
    }
    return changes;
  }

  /** Takes in a report from process `index`; returns the shares to send. */
  report(index: number, upstreams: Record<string, UpstreamDemand>): ShareChange[] {
    const changes: ShareChange[] = [];
    for (const [name, r] of Object.entries(upstreams)) {
      const b = this.books.get(name);
      if (!b) continue;
      b.demand[index] = r.demand;
      // Only a report under the latest share says what the process may hold from now on.
      if (r.seq === b.seq[index]) b.bound[index] = Math.max(r.share, r.inFlight);
      changes.push(...this.rebalance(name, b));
    }
    return changes;
  }

  /** The books for an upstream, for tests and the invariant: the bounds add up to no more than the total. */
  snapshot(name: string): Readonly<Books> | undefined {
    const b = this.books.get(name);
    return b && { ...b, told: [...b.told], seq: [...b.seq], bound: [...b.bound], demand: [...b.demand] };
  }

  private rebalance(name: string, b: Books): ShareChange[] {
    const target = fairShares(b.total, b.demand);
    const changes: ShareChange[] = [];
    const tell = (i: number, share: number) => {
      b.told[i] = share;
      // A process that is not running holds nothing; its successor starts with this share.
      if (!this.alive[i]) b.bound[i] = share;
      else changes.push({ index: i, message: { type: CONCURRENCY_SHARE, upstream: name, share, seq: ++b.seq[i] } });
    };
    // Take first: a smaller share is told at once, but counts only once the process reports it applied it.
    for (let i = 0; i < target.length; i++) if (target[i] < b.told[i]) tell(i, target[i]);
    let free = b.total - b.bound.reduce((sum, v, i) => sum + Math.max(v, b.told[i]), 0);
    for (let i = 0; i < target.length && free > 0; i++) {
      if (target[i] <= b.told[i]) continue;
      const grant = Math.min(target[i] - b.told[i], free);
      free -= grant;
      tell(i, b.told[i] + grant);
      b.bound[i] = Math.max(b.bound[i], b.told[i]);
    }
    return changes;
  }
}
