import { AggregatorRegistry } from 'prom-client';
import { CounterTally, HistogramTally, metricsRegistry } from './metrics';

describe('CounterTally', () => {
  const tally = new CounterTally({ name: 'test_tally_total', help: 'test', labelNames: ['a', 'b'] as const });
  const value = async (labels: string) => {
    const text = await metricsRegistry.metrics();
    return Number(new RegExp(`^test_tally_total\\{${labels}\\} (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);
  };

  it('hands out one slot per label set and adds its count to the counter when scraped', async () => {
    const x = tally.slot({ a: '1', b: '2' });
    expect(tally.slot({ a: '1', b: '2' })).toBe(x);
    const y = tally.slot({ a: '1', b: '3' });
    x.n += 5;
    y.n++;
    expect(await value('a="1",b="2"')).toBe(5);
    expect(await value('a="1",b="3"')).toBe(1);
    // Counts keep adding up across scrapes; a scrape with nothing new changes nothing.
    expect(await value('a="1",b="2"')).toBe(5);
    x.n += 2;
    expect(await value('a="1",b="2"')).toBe(7);
    expect(x.n).toBe(0);
  });
});

describe('HistogramTally', () => {
  const tally = new HistogramTally({
    name: 'test_tally_seconds',
    help: 'test',
    labelNames: ['u'] as const,
    buckets: [0.1, 1, 0.01],
  });
  const series = async () =>
    (await metricsRegistry.metrics()).split('\n').filter((l) => l.startsWith('test_tally_seconds'));

  it('renders cumulative buckets, sum and count per label set as prom-client histograms do', async () => {
    const a = tally.slot({ u: 'a' });
    expect(tally.slot({ u: 'a' })).toBe(a);
    for (const v of [0.005, 0.01, 0.05, 2]) a.observe(v);
    tally.slot({ u: 'b' }).observe(0.5);
    expect(await series()).toEqual([
      'test_tally_seconds_bucket{le="0.01",u="a"} 2',
      'test_tally_seconds_bucket{le="0.1",u="a"} 3',
      'test_tally_seconds_bucket{le="1",u="a"} 3',
      'test_tally_seconds_bucket{le="+Inf",u="a"} 4',
      'test_tally_seconds_sum{u="a"} 2.065',
      'test_tally_seconds_count{u="a"} 4',
      'test_tally_seconds_bucket{le="0.01",u="b"} 0',
      'test_tally_seconds_bucket{le="0.1",u="b"} 0',
      'test_tally_seconds_bucket{le="1",u="b"} 1',
      'test_tally_seconds_bucket{le="+Inf",u="b"} 1',
      'test_tally_seconds_sum{u="b"} 0.5',
      'test_tally_seconds_count{u="b"} 1',
    ]);
  });

  it('sums across worker processes in the cluster aggregator', async () => {
    const one = (await metricsRegistry.getMetricsAsJSON()).filter((m) => m.name === 'test_tally_seconds');
    const summed = AggregatorRegistry.aggregate([one, one]);
    const text = await summed.metrics();
    expect(text).toMatch(/^test_tally_seconds_bucket\{le="\+Inf",u="a"\} 8$/m);
    expect(text).toMatch(/^test_tally_seconds_count\{u="b"\} 2$/m);
  });
});
