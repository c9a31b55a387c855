import { gaugeFrom } from '../metrics/metrics';
import type { OwnerUpstreamStats, UpstreamClient } from '../upstream/upstream-client';
import type { UpstreamRouter } from '../upstream/upstream-router';

/** Distinct `owner` label values; owners seen after these share the label `other`. */
const MAX_OWNER_LABELS = 50;

/** In-flight, queued and allowed concurrency per upstream, and in-flight and queued per owner, read at scrape time. */
export function registerUpstreamGauges(router: UpstreamRouter): void {
  const gauge = (name: string, help: string, read: (c: UpstreamClient) => number) =>
    gaugeFrom(name, help, ['upstream'], (g) => {
      for (const c of router.all()) g.set({ upstream: c.name }, read(c));
    });
  gauge('batch_upstream_in_flight', 'Upstream requests in flight', (c) => c.stats().inFlight);
  gauge('batch_upstream_queued', 'Requests waiting for an upstream slot', (c) => c.stats().queued);
  gauge('batch_upstream_concurrency_limit', 'Allowed concurrency after AIMD backoff', (c) => c.stats().limit);

  const owners = new OwnerLabels();
  const ownerGauge = (name: string, help: string, read: (s: OwnerUpstreamStats) => number) =>
    gaugeFrom(name, help, ['upstream', 'owner'], (g) => {
      for (const c of router.all()) {
        for (const [owner, value] of owners.sum(c.ownerStats(), read)) g.set({ upstream: c.name, owner }, value);
      }
    });
  ownerGauge('batch_upstream_owner_in_flight', "An owner's upstream requests in flight", (s) => s.inFlight);
  ownerGauge(
    'batch_upstream_owner_queued',
    "An owner's requests read and waiting for an upstream slot (owners share each upstream by weight)",
    (s) => s.queued,
  );
}

/**
 * The `owner` label of each owner: the first MAX_OWNER_LABELS owners seen are labelled as they are, the rest
 * `other`, so the series stay bounded however many owners the keys name. An owner once seen keeps its series (at
 * 0 while it has nothing upstream), so a graph shows its idle time rather than a gap.
 */
class OwnerLabels {
  private readonly labelled = new Set<string>();

  /** `read` of each owner's stats, summed by label, with every labelled owner present. */
  sum(stats: Map<string, OwnerUpstreamStats>, read: (s: OwnerUpstreamStats) => number): Map<string, number> {
    const sums = new Map<string, number>([...this.labelled].map((o) => [o, 0]));
    for (const [owner, s] of stats) {
      const label = this.labelOf(owner);
      sums.set(label, (sums.get(label) ?? 0) + read(s));
    }
    return sums;
  }

  private labelOf(owner: string): string {
    if (this.labelled.has(owner)) return owner;
    if (this.labelled.size >= MAX_OWNER_LABELS) return 'other';
    this.labelled.add(owner);
    return owner;
  }
}
