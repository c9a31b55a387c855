import { addUsage, emptyUsage, type Usage } from './usage';
import type { BlobAppender } from '../storage/blob.store';
import { LineBuffer } from './line-buffer';
import type { ResultLine } from './result-line';

/** How much of one attempt's part files is valid. */
export interface ChunkPart {
  attempt: number;
  outBytes: number;
  errBytes: number;
}

/**
 * A chunk's checkpoint: how far its part files are valid and which request ordinals are done. Each attempt (one
 * claim of the chunk, named by the fencing token the claim took from the metadata store) writes its own part files:
 * `outBytes`/`errBytes` are the valid lengths of the current attempt's, and `earlier` the frozen valid lengths of the
 * attempts before it. An attempt that lost the chunk (Temporal gave up on it, or an operator reset it) may still be
 * running; whatever it appends lands past its frozen length, in its own files, and is never read.
 */
export interface ChunkState {
  outBytes: number;
  errBytes: number;
  done: number[];
  completed: number;
  failed: number;
  usage: Usage;
  /**
   * The token of the attempt that owns the current part files (0 or absent: files named without one). Checkpoints
   * written before tokens came from the store hold Temporal's attempt number here.
   */
  attempt?: number;
  /** Earlier attempts' parts, in order. */
  earlier?: ChunkPart[];
}

/** The current attempt's part. */
const currentPart = (state: ChunkState): ChunkPart => ({
  attempt: state.attempt ?? 0,
  outBytes: state.outBytes,
  errBytes: state.errBytes,
});

/** Every part of a chunk in order, the current attempt's last. */
export function partsOf(state: ChunkState): ChunkPart[] {
  return [...(state.earlier ?? []), currentPart(state)];
}

/** Hands the chunk to the attempt holding `token`: the current part is frozen, and the attempt starts new part files. */
export function startAttempt(state: ChunkState, token: number): void {
  const current = currentPart(state);
  if (current.outBytes > 0 || current.errBytes > 0) state.earlier = [...(state.earlier ?? []), current];
  state.attempt = token;
  state.outBytes = 0;
  state.errBytes = 0;
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

type Delta = { completed: number; failed: number; usage: Usage };

/**
 * Buffered result bytes past which a writer appends them to its part files before the next checkpoint. Between
 * checkpoints (a second apart) a busy chunk with large answers buffers tens of MB otherwise (B3's 4 KB echoes at
 * several thousand a second); appended early, the text is in the files, waiting only for the checkpoint's sync.
 */
const HAND_OVER_BYTES = 1 << 20;
const emptyDelta = (): Delta => ({ completed: 0, failed: 0, usage: emptyUsage() });

/**
 * Buffers result lines and commits them in checkpoints: append to the part files, sync, then record the new
 * valid lengths and done set (ChunkState). Anything past the last checkpoint is never read, and its requests are
 * sent again by the next attempt, so no result is ever written twice and re-sends are bounded by one checkpoint
 * interval.
 *
 * A failed sync or persist is retried by the next checkpoint: the part files keep unsynced bytes for their next
 * sync, and the done set and counts of those lines wait here until it succeeds. A failed append is final (some of
 * the lines may be in the file): every later checkpoint fails, and the retried activity resumes from the last one.
 */
export class ChunkWriter {
  /** Result lines as UTF-8 bytes, in a few large blocks (see LineBuffer). */
  private readonly out = new LineBuffer();
  private readonly err = new LineBuffer();
  private newlyDone: number[] = [];
  private delta = emptyDelta();
  /** Lines handed to the part files whose sync has not succeeded yet. */
  private unsynced = { done: [] as number[], delta: emptyDelta() };
  private unpersisted = false;
  private broken: unknown;
  private chain: Promise<void> = Promise.resolve();
  /** Bytes of result text buffered since the last hand-over was queued. */
  private bufferedBytes = 0;

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
    this.bufferedBytes += (line.ok ? this.out : this.err).push(line.text);
    this.newlyDone.push(ordinal);
    if (line.ok) this.delta.completed++;
    else this.delta.failed++;
    if (line.usage) addUsage(this.delta.usage, line.usage);
    if (this.bufferedBytes >= HAND_OVER_BYTES) this.handOverEarly();
  }

  /** Queues an append of what is buffered, without a sync: the next checkpoint commits it. */
  private handOverEarly(): void {
    this.bufferedBytes = 0;
    const run = this.chain.then(async () => {
      if (!this.broken && this.newlyDone.length) await this.handOver();
    });
    // A failed append marks the writer broken; the next checkpoint reports it.
    this.chain = run.catch(() => undefined);
  }

  /** Commits everything buffered so far; calls are serialized, and one that fails leaves its work to the next. */
  checkpoint(): Promise<void> {
    const run = this.chain.then(() => this.commit());
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async commit(): Promise<void> {
    if (this.broken) throw this.broken;
    this.bufferedBytes = 0;
    if (this.newlyDone.length) await this.handOver();
    if (this.unsynced.done.length) {
      await Promise.all([this.outFile.sync(), this.errFile.sync()]);
      const s = this.state;
      const { done, delta } = this.unsynced;
      this.unsynced = { done: [], delta: emptyDelta() };
      s.outBytes = this.outFile.size;
      s.errBytes = this.errFile.size;
      s.done.push(...done);
      s.completed += delta.completed;
      s.failed += delta.failed;
      addUsage(s.usage, delta.usage);
      this.unpersisted = true;
    }
    if (this.unpersisted) {
      await this.persist(this.state);
      this.unpersisted = false;
    }
  }

  /** Appends the buffered lines to the part files. */
  private async handOver(): Promise<void> {
    const out = this.out.lines ? this.out.take() : undefined;
    const err = this.err.lines ? this.err.take() : undefined;
    const [done, delta] = [this.newlyDone, this.delta];
    this.newlyDone = [];
    this.delta = emptyDelta();
    try {
      if (out) await this.outFile.append(out);
      if (err) await this.errFile.append(err);
    } catch (e) {
      this.broken = e;
      throw e;
    }
    this.unsynced.done.push(...done);
    this.unsynced.delta.completed += delta.completed;
    this.unsynced.delta.failed += delta.failed;
    addUsage(this.unsynced.delta.usage, delta.usage);
  }
}
