import type { RoutingTable } from './routing';
import { UpstreamClient } from './upstream-client';

/** Retry settings shared by every upstream. */
export interface RetrySettings {
  maxRetries: number;
  retryBaseMs: number;
  retryMaxMs: number;
  /** How long an upstream may refuse connections before its requests fail (UPSTREAM_OUTAGE_TOLERANCE_MS). */
  outageToleranceMs?: number;
}

const patternOf = (glob: string): RegExp =>
  new RegExp(
    `^${glob
      .split('*')
      .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );

/**
 * Picks the upstream for a model: an exact route first, then `*` patterns in file order, then the default.
 * One client (connection pool and limits) per upstream per worker process, shared by every batch.
 */
export class UpstreamRouter {
  private readonly clients = new Map<string, UpstreamClient>();
  private readonly exact = new Map<string, string>();
  private readonly patterns: { re: RegExp; upstream: string }[] = [];
  private readonly fallback?: string;

  /** `ownerWeight` gives each owner's fair share of every upstream (default 1 for all). */
  constructor(table: RoutingTable, retry: RetrySettings, ownerWeight?: (owner: string) => number) {
    for (const u of table.upstreams) {
      this.clients.set(
        u.name,
        new UpstreamClient({
          name: u.name,
          baseUrl: u.baseUrl,
          apiKey: u.apiKey,
          concurrency: u.maxConcurrency,
          concurrencyShare: u.concurrencyShare,
          timeoutMs: u.timeoutMs,
          requestsPerMinute: u.requestsPerMinute,
          tokensPerMinute: u.tokensPerMinute,
          ownerWeight,
          ...retry,
        }),
      );
    }
    for (const r of table.routes) {
      if (r.model.includes('*')) this.patterns.push({ re: patternOf(r.model), upstream: r.upstream });
      else if (!this.exact.has(r.model)) this.exact.set(r.model, r.upstream);
    }
    this.fallback = table.default;
  }

  /** The upstream for `model` (null: the line names none), or undefined when nothing routes it. */
  forModel(model: string | null): UpstreamClient | undefined {
    const name =
      (model !== null && (this.exact.get(model) ?? this.patterns.find((p) => p.re.test(model))?.upstream)) ||
      this.fallback;
    return name ? this.clients.get(name) : undefined;
  }

  /** The client for upstream `name`, if there is one. */
  byName(name: string): UpstreamClient | undefined {
    return this.clients.get(name);
  }

  /** Every upstream client (metrics, shutdown). */
  all(): UpstreamClient[] {
    return [...this.clients.values()];
  }

  /** Closes every connection pool. */
  async close(): Promise<void> {
    await Promise.all(this.all().map((c) => c.close()));
  }
}
