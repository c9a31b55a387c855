import { addUsage, emptyUsage, type Usage } from '../src/storage/batch.store';
import type { BlobAppender, BlobStore } from '../src/storage/blob.store';
import { batchKeys, type ChunkIndex } from './deps';
import type { ResultLine } from './result-line';

/** A chunk's checkpoint: how far its part files are valid and which request ordinals are done. */
export interface ChunkState {
  outBytes: number;
  errBytes: number;
  done: number[];
  completed: number;
  failed: number;
  usage: Usage;
  /** The activity attempt that owns the part files; an older attempt still running must stop writing. */
  attempt?: number;
}

/** The state of a chunk that has not started. */
export const emptyChunkState = (): ChunkState => ({
  outBytes: 0,
  errBytes: 0,
  done: [],
  completed: 0,
  failed: 0,
  usage: emptyUsage(),
});

/** Reads a chunk's last checkpoint (or the empty state). */
export async function loadChunkState(blobs: BlobStore, batchId: string, chunk: number): Promise<ChunkState> {
  const raw = await blobs.readBuffer(batchKeys(batchId).state(chunk));
  return raw ? (JSON.parse(raw.toString('utf8')) as ChunkState) : emptyChunkState();
}

/** Reads the chunk index validation wrote. */
export async function loadChunkIndex(blobs: BlobStore, batchId: string): Promise<ChunkIndex | undefined> {
  const raw = await blobs.readBuffer(batchKeys(batchId).index);
  return raw ? (JSON.parse(raw.toString('utf8')) as ChunkIndex) : undefined;
}

/**
 * Buffers result lines and commits them in checkpoints: append to the part files, fsync, then record the new
 * valid lengths and done set. Anything after the last checkpoint is trimmed on resume and sent again, so no
 * result is ever written twice and re-sends are bounded by one checkpoint interval.
 */
export class ChunkWriter {
  private out: string[] = [];
  private err: string[] = [];
  private newlyDone: number[] = [];
  private delta = { completed: 0, failed: 0, usage: emptyUsage() };
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly state: ChunkState,
    private readonly outFile: BlobAppender,
    private readonly errFile: BlobAppender,
    private readonly persist: (state: ChunkState) => Promise<void>,
  ) {}

  /** Committed progress. */
  get committed(): Readonly<ChunkState> {
    return this.state;
  }

  /** Buffered bytes not yet committed. */
  get pendingCount(): number {
    return this.newlyDone.length;
  }

  /** Buffers one request's result line. */
  record(ordinal: number, line: ResultLine): void {
    (line.ok ? this.out : this.err).push(line.text);
    this.newlyDone.push(ordinal);
    if (line.ok) this.delta.completed++;
    else this.delta.failed++;
    if (line.usage) addUsage(this.delta.usage, line.usage);
  }

  /** Commits everything buffered so far; calls are serialized. */
  checkpoint(): Promise<void> {
    this.chain = this.chain.then(() => this.commit());
    return this.chain;
  }

  private async commit(): Promise<void> {
    if (this.newlyDone.length === 0) return;
    const [out, err, done, delta] = [this.out, this.err, this.newlyDone, this.delta];
    this.out = [];
    this.err = [];
    this.newlyDone = [];
    this.delta = { completed: 0, failed: 0, usage: emptyUsage() };
    if (out.length) await this.outFile.append(out.join(''));
    if (err.length) await this.errFile.append(err.join(''));
    await Promise.all([this.outFile.sync(), this.errFile.sync()]);
    const s = this.state;
    s.outBytes = this.outFile.size;
    s.errBytes = this.errFile.size;
    s.done.push(...done);
    s.completed += delta.completed;
    s.failed += delta.failed;
    addUsage(s.usage, delta.usage);
    await this.persist(s);
  }
}
