import { ConfigError } from '../config/config';
import { splitRouting, type RoutingTable } from './routing';

const table = (maxConcurrency: number, requestsPerMinute?: number, tokensPerMinute?: number): RoutingTable => ({
  upstreams: [
    {
      name: 'u',
      baseUrl: 'http://127.0.0.1:1/v1',
      maxConcurrency,
      requestsPerMinute,
      tokensPerMinute,
      timeoutMs: 1000,
    },
  ],
  routes: [{ model: 'm', upstream: 'u' }],
  default: 'u',
});

describe('splitRouting', () => {
  it('leaves a single process the whole table', () => {
    const t = table(7, 100, 1000);
    expect(splitRouting(t, 0, 1)).toBe(t);
  });

  it('splits every limit so the processes together keep to it, the remainder going to the first', () => {
    const shares = [0, 1, 2].map((i) => splitRouting(table(64, 100, 1_000_000), i, 3).upstreams[0]);
    // Concurrency: each starts with its part, and keeps the whole as the ceiling the supervisor may move it to.
    expect(shares.map((u) => u.concurrencyShare)).toEqual([22, 21, 21]);
    expect(shares.map((u) => u.maxConcurrency)).toEqual([64, 64, 64]);
    expect(shares.map((u) => u.requestsPerMinute)).toEqual([34, 33, 33]);
    expect(shares.map((u) => u.tokensPerMinute)).toEqual([333_334, 333_333, 333_333]);
    expect(shares.every((u) => u.name === 'u' && u.timeoutMs === 1000)).toBe(true);
  });

  it('keeps an unset rate limit unset', () => {
    const u = splitRouting(table(8), 1, 2).upstreams[0];
    expect(u).toMatchObject({ concurrencyShare: 4, requestsPerMinute: undefined, tokensPerMinute: undefined });
  });

  it("starts a process with the concurrency share its supervisor hands it (a restarted process's)", () => {
    expect(splitRouting(table(8), 1, 2, { u: 7 }).upstreams[0].concurrencyShare).toBe(7);
    expect(splitRouting(table(8), 1, 2, { other: 7 }).upstreams[0].concurrencyShare).toBe(4);
  });

  it('refuses a limit smaller than the number of processes', () => {
    expect(() => splitRouting(table(2), 0, 4)).toThrow(ConfigError);
    expect(() => splitRouting(table(2), 0, 4)).toThrow(/max_concurrency 2 cannot be split between WORKER_PROCESSES=4/);
    expect(() => splitRouting(table(8, 3), 0, 4)).toThrow(/requests_per_minute 3/);
    expect(() => splitRouting(table(8, 8, 2), 0, 4)).toThrow(/tokens_per_minute 2/);
  });
});
