import { gaugeFrom } from '../metrics/metrics';
import type { UpstreamClient } from '../upstream/upstream-client';
import type { UpstreamRouter } from '../upstream/upstream-router';

/** In-flight, queued and allowed concurrency per upstream, read at scrape time. */
export function registerUpstreamGauges(router: UpstreamRouter): void {
  const gauge = (name: string, help: string, read: (c: UpstreamClient) => number) =>
    gaugeFrom(name, help, ['upstream'], (g) => {
      for (const c of router.all()) g.set({ upstream: c.name }, read(c));
    });
  gauge('batch_upstream_in_flight', 'Upstream requests in flight', (c) => c.stats().inFlight);
  gauge('batch_upstream_queued', 'Requests waiting for an upstream slot', (c) => c.stats().queued);
  gauge('batch_upstream_concurrency_limit', 'Allowed concurrency after AIMD backoff', (c) => c.stats().limit);
}
