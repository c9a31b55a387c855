import type { UpstreamRouter } from './upstream-router';
import { CONCURRENCY_SHARE, CONCURRENCY_DEMAND, type DemandMessage, type ShareMessage } from './concurrency-broker';

/** How often a supervised worker process tells its supervisor what it could use (only when that changed). */
const REPORT_MS = 20;

const isShare = (m: unknown): m is ShareMessage => (m as { type?: unknown } | null)?.type === CONCURRENCY_SHARE;

/**
 * A supervised worker process's side of sharing upstream concurrency (see ConcurrencyBroker): applies the shares
 * the supervisor sends and reports, per upstream, the share it applies, what it holds and what it could use. Shares
 * that arrive before the worker has its upstreams are kept and applied once it does.
 */
export class ConcurrencyReporter {
  private router: UpstreamRouter | undefined;
  private readonly pending = new Map<string, ShareMessage>();
  private readonly seq = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private last = '';

  constructor(private readonly send: (message: DemandMessage) => void) {}

  /** Handles a message from the supervisor; returns false when it is not a share. */
  onMessage(m: unknown): boolean {
    if (!isShare(m)) return false;
    if (this.router) this.apply(m);
    else this.pending.set(m.upstream, m);
    return true;
  }

  /** Starts applying shares to `router`'s upstreams and reporting. */
  attach(router: UpstreamRouter): void {
    this.router = router;
    for (const m of this.pending.values()) this.apply(m);
    this.pending.clear();
    this.timer = setInterval(() => this.report(), REPORT_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private apply(m: ShareMessage): void {
    const client = this.router!.byName(m.upstream);
    if (!client || m.seq <= (this.seq.get(m.upstream) ?? 0)) return;
    client.setConcurrencyShare(m.share);
    this.seq.set(m.upstream, m.seq);
    // At once, so a share taken from this process can be given to another without waiting for the next tick.
    this.report();
  }

  private report(): void {
    const message: DemandMessage = { type: CONCURRENCY_DEMAND, upstreams: {} };
    for (const client of this.router!.all()) {
      const stats = client.stats();
      message.upstreams[client.name] = {
        share: stats.share,
        seq: this.seq.get(client.name) ?? 0,
        inFlight: stats.inFlight,
        demand: Math.min(stats.inFlight + stats.queued, stats.allowance),
      };
    }
    const text = JSON.stringify(message.upstreams);
    if (text === this.last) return;
    this.last = text;
    this.send(message);
  }
}
