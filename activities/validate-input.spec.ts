import { joinChunks } from './validate-input';

describe('joinChunks', () => {
  const chunks = Array.from({ length: 10 }, (_, i) => ({
    start: i * 100,
    end: i * 100 + 90,
    count: 5,
    firstLine: i * 6 + 1,
  }));

  it('leaves an index within the limit as it is', () => {
    expect(joinChunks(chunks, 10)).toBe(chunks);
  });

  it('joins neighbours into at most `max` chunks covering the same lines and bytes', () => {
    expect(joinChunks(chunks, 3)).toEqual([
      { start: 0, end: 290, count: 15, firstLine: 1 },
      { start: 300, end: 590, count: 15, firstLine: 19 },
      { start: 600, end: 990, count: 20, firstLine: 37 },
    ]);
    // One chunk too many still makes exactly `max`, not half as many chunks twice the size.
    const many = Array.from({ length: 1001 }, (_, i) => ({
      start: i * 10,
      end: i * 10 + 9,
      count: 1,
      firstLine: i + 1,
    }));
    const joined = joinChunks(many, 1000);
    expect(joined).toHaveLength(1000);
    expect(joined.reduce((n, c) => n + c.count, 0)).toBe(1001);
    expect(Math.max(...joined.map((c) => c.count))).toBe(2);
    expect(joinChunks(chunks, 1)).toEqual([{ start: 0, end: 990, count: 50, firstLine: 1 }]);
  });
});
