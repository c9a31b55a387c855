import type { Readable } from 'node:stream';

/** One physical line of a JSONL stream with its byte range; `text` excludes the newline and a trailing CR. */
export interface RawLine {
  /** 1-based line number in the file. */
  lineNo: number;
  /** Byte offset of the line's first byte. */
  start: number;
  /** Byte offset just past the line's newline (or the end of the stream). */
  end: number;
  bytes: Buffer;
}

const NEWLINE = 0x0a;
const CR = 0x0d;

/** Splits a byte stream into lines without decoding, tracking offsets; memory is bounded by the longest line. */
export async function* readLines(stream: Readable, firstOffset = 0, firstLineNo = 1): AsyncGenerator<RawLine> {
  for await (const lines of readLineBatches(stream, firstOffset, firstLineNo)) yield* lines;
}

/**
 * {@link readLines} a stream chunk at a time: each batch holds the lines that chunk completed (none while a long
 * line spans chunks). A consumer that handles lines one by one without waiting saves a generator step per line.
 */
export async function* readLineBatches(stream: Readable, firstOffset = 0, firstLineNo = 1): AsyncGenerator<RawLine[]> {
  let carry: Buffer[] = [];
  let carryLen = 0;
  let offset = firstOffset;
  let lineStart = firstOffset;
  let lineNo = firstLineNo;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    const lines: RawLine[] = [];
    let from = 0;
    let nl = chunk.indexOf(NEWLINE, from);
    while (nl !== -1) {
      const piece = chunk.subarray(from, nl);
      const line = carryLen ? Buffer.concat([...carry, piece], carryLen + piece.length) : piece;
      carry = [];
      carryLen = 0;
      const end = offset + nl + 1;
      lines.push({ lineNo, start: lineStart, end, bytes: trimCr(line) });
      lineNo++;
      lineStart = end;
      from = nl + 1;
      nl = chunk.indexOf(NEWLINE, from);
    }
    if (from < chunk.length) {
      carry.push(chunk.subarray(from));
      carryLen += chunk.length - from;
    }
    offset += chunk.length;
    if (lines.length) yield lines;
  }
  if (carryLen) yield [{ lineNo, start: lineStart, end: offset, bytes: trimCr(Buffer.concat(carry, carryLen)) }];
}

function trimCr(line: Buffer): Buffer {
  return line.length && line[line.length - 1] === CR ? line.subarray(0, line.length - 1) : line;
}

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/** Drops a UTF-8 byte order mark from the file's first line. */
export function stripBom(line: RawLine): Buffer {
  return line.start === 0 && line.bytes.subarray(0, 3).equals(BOM) ? line.bytes.subarray(3) : line.bytes;
}

/** True for a line of only spaces and tabs (skipped, not an error). */
export function isBlank(bytes: Buffer): boolean {
  for (const b of bytes) if (b !== 0x20 && b !== 0x09) return false;
  return true;
}
