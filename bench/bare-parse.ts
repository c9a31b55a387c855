import { createReadStream } from 'node:fs';

/** Streams a JSONL file, splits it on newlines and JSON.parses every non-empty line; resolves to the line count. */
export async function parseJsonlFile(path: string): Promise<number> {
  let lines = 0;
  let carry: Buffer | undefined;
  const parse = (buf: Buffer, start: number, end: number) => {
    if (end > start) {
      JSON.parse(buf.toString('utf8', start, end));
      lines++;
    }
  };
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    const buf = carry ? Buffer.concat([carry, chunk]) : chunk;
    let from = 0;
    for (let nl = buf.indexOf(10); nl !== -1; nl = buf.indexOf(10, from)) {
      parse(buf, from, nl);
      from = nl + 1;
    }
    carry = from < buf.length ? buf.subarray(from) : undefined;
  }
  if (carry) parse(carry, 0, carry.length);
  return lines;
}
