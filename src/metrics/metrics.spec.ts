import { CounterTally, metricsRegistry } from './metrics';

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
