import { emptyUsage } from './usage';
import type { BlobAppender } from '../storage/blob.store';
import { ChunkWriter, emptyChunkState, type ChunkState } from './chunk-state';
import type { ResultLine } from './result-line';

/** An in-memory part file; a failed sync keeps its bytes for the next, as the blob stores' appenders do. */
class MemoryPartFile implements BlobAppender {
  stored = '';
  private pending = '';
  failSyncs = 0;
  failAppends = false;

  get size(): number {
    return Buffer.byteLength(this.stored + this.pending);
  }
  async append(data: Buffer | string): Promise<void> {
    if (this.failAppends) throw new Error('disk full');
    this.pending += data.toString();
  }
  async sync(): Promise<void> {
    if (this.failSyncs > 0) {
      this.failSyncs--;
      throw new Error('sync failed');
    }
    this.stored += this.pending;
    this.pending = '';
  }
  async close(): Promise<void> {}
}

const ok = (n: number): ResultLine => ({ text: `out-${n}\n`, ok: true, usage: { ...emptyUsage(), total_tokens: 3 } });
const bad = (n: number): ResultLine => ({ text: `err-${n}\n`, ok: false });

describe('ChunkWriter', () => {
  let out: MemoryPartFile;
  let err: MemoryPartFile;
  let persisted: ChunkState[];
  let failPersists: number;
  let writer: ChunkWriter;

  beforeEach(() => {
    out = new MemoryPartFile();
    err = new MemoryPartFile();
    persisted = [];
    failPersists = 0;
    writer = new ChunkWriter(emptyChunkState(), out, err, async (s) => {
      if (failPersists-- > 0) throw new Error('store busy');
      persisted.push(structuredClone(s));
    });
  });
  const last = () => persisted[persisted.length - 1];

  it('commits lines, lengths, the done set and counts together', async () => {
    writer.record(0, ok(0));
    writer.record(1, bad(1));
    await writer.checkpoint();
    expect(out.stored).toBe('out-0\n');
    expect(err.stored).toBe('err-1\n');
    expect(last()).toMatchObject({ outBytes: 6, errBytes: 6, done: [0, 1], completed: 1, failed: 1 });
    expect(last().usage.total_tokens).toBe(3);
  });

  it('appends past 1 MiB of buffered text before the checkpoint, which alone commits it', async () => {
    const big = (n: number): ResultLine => ({ text: `${'x'.repeat(300 * 1024)}-${n}\n`, ok: true });
    for (let n = 0; n < 4; n++) writer.record(n, big(n));
    await new Promise((r) => setImmediate(r));
    // Handed to the part file (unsynced), not yet committed: a crash now resumes from the empty checkpoint.
    expect(out.size).toBeGreaterThan(1 << 20);
    expect(out.stored).toBe('');
    expect(persisted).toEqual([]);
    writer.record(4, ok(4));
    await writer.checkpoint();
    expect(last()).toMatchObject({ outBytes: out.size, done: [0, 1, 2, 3, 4], completed: 5 });
    expect(out.stored.endsWith('-3\nout-4\n')).toBe(true);
  });

  it('retries a failed sync at the next checkpoint, keeping its lines’ done set and counts', async () => {
    writer.record(0, ok(0));
    writer.record(1, bad(1));
    out.failSyncs = 1;
    await expect(writer.checkpoint()).rejects.toThrow('sync failed');
    expect(persisted).toEqual([]);
    writer.record(2, ok(2));
    await writer.checkpoint();
    expect(out.stored).toBe('out-0\nout-2\n');
    expect(last()).toMatchObject({ outBytes: 12, errBytes: 6, completed: 2, failed: 1 });
    expect([...last().done].sort()).toEqual([0, 1, 2]);
    expect(last().usage.total_tokens).toBe(6);
  });

  it('retries a failed persist at the next checkpoint even when nothing new arrived', async () => {
    writer.record(0, ok(0));
    failPersists = 1;
    await expect(writer.checkpoint()).rejects.toThrow('store busy');
    await writer.checkpoint();
    expect(persisted).toHaveLength(1);
    expect(last()).toMatchObject({ outBytes: 6, done: [0], completed: 1 });
    await writer.checkpoint(); // nothing left to do
    expect(persisted).toHaveLength(1);
  });

  it('fails every later checkpoint after a failed append, so the retried activity resumes from the last one', async () => {
    writer.record(0, ok(0));
    await writer.checkpoint();
    out.failAppends = true;
    writer.record(1, ok(1));
    await expect(writer.checkpoint()).rejects.toThrow('disk full');
    out.failAppends = false;
    writer.record(2, ok(2));
    await expect(writer.checkpoint()).rejects.toThrow('disk full');
    expect(persisted).toHaveLength(1);
    expect(last().done).toEqual([0]);
  });
});
