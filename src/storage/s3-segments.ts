import type { BlobAppender } from './blob.store';

/**
 * The layout of an appended blob in S3, which has no append: segments `<key>.parts/<start>`, each holding the bytes
 * one `sync()` stored, `<start>` being their offset in the blob zero-padded so names sort by offset. The blob is the
 * chain of segments that tiles [0, n) from offset 0; a segment off the chain (left by an abandoned writer) is
 * ignored and removed at the next `openAppend`.
 */

/** A stored piece of an appended blob: bytes [start, start + size) of the logical blob. */
export interface Segment {
  path: string;
  start: number;
  size: number;
}

/** A segment's key: the blob's key, `.parts/`, then its start offset zero-padded so names sort by offset. */
export const segmentPath = (path: string, start: number): string => `${path}.parts/${String(start).padStart(16, '0')}`;

/** The segments that tile the blob from offset 0 without gaps; leftovers of an abandoned writer are not on it. */
export function chainOf(segments: Segment[]): Segment[] {
  const chain: Segment[] = [];
  let pos = 0;
  for (const s of [...segments].sort((a, b) => a.start - b.start)) {
    if (s.start !== pos || s.size === 0) continue;
    chain.push(s);
    pos += s.size;
  }
  return chain;
}

/** Where the chain ends: the blob's size. */
export const endOf = (chain: Segment[]): number =>
  chain.length ? chain[chain.length - 1].start + chain[chain.length - 1].size : 0;

/**
 * Appends kept in memory until `sync()` stores them as the next segment. A failed sync keeps them for the next
 * one, so a checkpoint never names bytes that are not stored. Syncs run one at a time.
 */
export class SegmentAppender implements BlobAppender {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private stored: number,
    private readonly putSegment: (start: number, data: Buffer) => Promise<void>,
  ) {}

  get size(): number {
    return this.stored + this.pendingBytes;
  }

  async append(data: Buffer | string): Promise<void> {
    const buf = Buffer.from(data); // a copy: the caller may reuse its buffer
    if (buf.length === 0) return;
    this.pending.push(buf);
    this.pendingBytes += buf.length;
  }

  sync(): Promise<void> {
    const run = this.queue.then(() => this.flush());
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Stores what was appended, as a file's close leaves its writes in place. */
  close(): Promise<void> {
    return this.sync();
  }

  private async flush(): Promise<void> {
    const count = this.pending.length;
    if (count === 0) return;
    const data = Buffer.concat(this.pending.slice(0, count));
    await this.putSegment(this.stored, data);
    this.pending.splice(0, count);
    this.pendingBytes -= data.length;
    this.stored += data.length;
  }
}
