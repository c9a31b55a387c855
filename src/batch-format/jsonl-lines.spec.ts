import { Readable } from 'node:stream';
import { readLineBatches, readLines } from './jsonl-lines';

const chunks = (...parts: string[]) => Readable.from(parts.map((p) => Buffer.from(p)));

describe('readLines / readLineBatches', () => {
  it('splits lines across chunk boundaries with their offsets, trimming CR, keeping a last line without newline', async () => {
    const lines = [];
    for await (const l of readLines(chunks('a\r\nbb', 'b\n', 'cc', 'c\ndd'), 10, 5)) {
      lines.push({ lineNo: l.lineNo, start: l.start, end: l.end, text: l.bytes.toString() });
    }
    expect(lines).toEqual([
      { lineNo: 5, start: 10, end: 13, text: 'a' },
      { lineNo: 6, start: 13, end: 17, text: 'bbb' },
      { lineNo: 7, start: 17, end: 21, text: 'ccc' },
      { lineNo: 8, start: 21, end: 23, text: 'dd' },
    ]);
  });

  it('gives each stream chunk the lines it completed, and no empty batch while a line spans chunks', async () => {
    const batches = [];
    for await (const b of readLineBatches(chunks('x\ny\nlo', 'n', 'g\nz')))
      batches.push(b.map((l) => l.bytes.toString()));
    expect(batches).toEqual([['x', 'y'], ['long'], ['z']]);
  });
});
