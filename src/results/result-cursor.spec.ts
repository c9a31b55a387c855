import { decodeCursor, encodeCursor, END, positionsFor, START, type ChunkPosition } from './result-cursor';

describe('result cursors', () => {
  it('round-trip positions, run-length encoding complete and untouched chunks', () => {
    const chunks: ChunkPosition[] = [
      ...Array.from({ length: 700 }, () => 'complete' as const),
      { out: 12_345, err: 0 },
      { out: 0, err: 77 },
      ...Array.from({ length: 798 }, () => ({ out: 0, err: 0 })),
    ];
    const text = encodeCursor('batch_a', { end: false, chunks });
    // A thousand and a half chunks, two of them running: the cursor stays short.
    expect(text.length).toBeLessThan(60);
    expect(decodeCursor('batch_a', text)).toEqual({ end: false, chunks });
    expect(decodeCursor('batch_a', encodeCursor('batch_a', END))).toEqual(END);
    expect(decodeCursor('batch_a', encodeCursor('batch_a', START))).toEqual(START);
  });

  it('refuses a cursor of another batch, garbage, and one made for another chunk count', () => {
    const text = encodeCursor('batch_a', { end: false, chunks: ['complete', { out: 1, err: 2 }] });
    expect(() => decodeCursor('batch_b', text)).toThrow(/Invalid cursor/);
    for (const bad of ['', 'zzz', Buffer.from('x|c1').toString('base64url'), text.slice(0, -2)]) {
      expect(() => decodeCursor('batch_a', bad)).toThrow(/Invalid cursor/);
    }
    const cursor = decodeCursor('batch_a', text) as { end: false; chunks: ChunkPosition[] };
    expect(() => positionsFor(cursor, 3)).toThrow(/Invalid cursor/);
    expect(positionsFor(START as { chunks: null }, 2)).toEqual([
      { out: 0, err: 0 },
      { out: 0, err: 0 },
    ]);
  });
});
