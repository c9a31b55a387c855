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
      { start: 0, end: 390, count: 20, firstLine: 1 },
      { start: 400, end: 790, count: 20, firstLine: 25 },
      { start: 800, end: 990, count: 10, firstLine: 49 },
    ]);
    expect(joinChunks(chunks, 1)).toEqual([{ start: 0, end: 990, count: 50, firstLine: 1 }]);
  });
});
