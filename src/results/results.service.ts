import { Inject, Injectable } from '@nestjs/common';
import { Readable } from 'node:stream';
import { batchKeys } from '../batch-format/blob-layout';
import { partsOf, type ChunkPart } from '../batch-format/chunk-state';
import { committedBytes, segmentStarts, type ResultLayout } from '../batch-format/result-layout';
import { isFinal } from '../batch-format/status';
import { ConflictError, NotFoundError } from '../common/errors';
import type { BatchRow } from '../storage/batch.store';
import { committedStates, loadChunkIndex } from '../storage/committed-chunks';
import type { FileRow } from '../storage/file.store';
import { STORAGE } from '../storage/storage.module';
import type { Storage } from '../storage/storage';
import {
  decodeCursor,
  encodeCursor,
  END,
  invalidCursor,
  positionsFor,
  START,
  type ChunkPosition,
  type ResultCursor,
} from './result-cursor';

/** One page of results: the lines, the cursor that follows them, and whether every line has now been served. */
export interface ResultsPage {
  lines: Readable;
  nextCursor: string;
  complete: boolean;
}

/** Bytes of one chunk's output or error lines, in the chunk's own coordinates (its parts' valid prefixes, joined). */
interface LiveRange {
  chunk: number;
  kind: 'out' | 'err';
  start: number;
  end: number;
  parts: ChunkPart[];
}

/**
 * `GET /v1/batches/{id}/results` (an extension): the result lines a batch has committed so far, and a cursor to ask for
 * only the lines committed since.
 *
 * While the batch runs, a page is each chunk's committed lines past the cursor, read from its part files up to the
 * lengths of its last checkpoint, which only grow: nothing is served before its checkpoint committed, and what a
 * chunk committed is a prefix of what it ends with. Once the batch has ended, the rest comes from the final files,
 * where finalize recorded each chunk's place (ResultLayout), followed by the lines finalize wrote for requests that
 * never ran. So across pages, worker crashes and retries, the lines served are exactly those of the final files, each
 * once.
 */
@Injectable()
export class ResultsService {
  constructor(@Inject(STORAGE) private readonly storage: Storage) {}

  async page(owner: string, id: string, after?: string): Promise<ResultsPage> {
    const batch = await this.storage.batches.get(owner, id);
    if (!batch) throw new NotFoundError(`No such Batch: ${id}`, 'batch_id');
    const cursor = after === undefined ? START : decodeCursor(id, after);
    if (cursor.end) return this.pageOf(id, END, true, []);
    if (isFinal(batch.status)) return this.finalPage(batch, cursor);
    const index = await loadChunkIndex(this.storage.blobs, id);
    const committed = index ? await this.storage.batches.chunkCheckpoints(id) : undefined;
    // Finalize clears the chunk rows and part files only after the batch has ended: if it still has not, what was read
    // above is what the chunks committed.
    const now = await this.storage.batches.getById(id);
    if (!now) throw new NotFoundError(`No such Batch: ${id}`, 'batch_id');
    if (isFinal(now.status)) return this.finalPage(now, cursor);
    // Still validating: no chunk has started.
    if (!index || !committed) return this.pageOf(id, cursor, false, []);

    const positions = positionsFor(cursor, index.chunks.length);
    const states = await committedStates(this.storage.blobs, id, index, committed);
    const ranges: LiveRange[] = [];
    const next: ChunkPosition[] = positions.map((at, i) => {
      if (at === 'complete') return at;
      const state = states[i];
      const { out, err } = committedBytes(state);
      if (at.out > out || at.err > err) throw invalidCursor();
      const parts = partsOf(state);
      if (out > at.out) ranges.push({ chunk: i, kind: 'out', start: at.out, end: out, parts });
      if (err > at.err) ranges.push({ chunk: i, kind: 'err', start: at.err, end: err, parts });
      return state.done.length >= index.chunks[i].count ? 'complete' : { out, err };
    });
    return {
      lines: Readable.from(this.liveLines(id, ranges)),
      nextCursor: encodeCursor(id, { end: false, chunks: next }),
      complete: false,
    };
  }

  /** The rest of an ended batch's lines, from its final files. */
  private async finalPage(batch: BatchRow, cursor: Extract<ResultCursor, { end: false }>): Promise<ResultsPage> {
    const [out, err] = await Promise.all([this.resultFile(batch, 'output'), this.resultFile(batch, 'error')]);
    const recorded = await this.storage.batches.resultLayout(batch.id);
    if (!recorded) {
      // Ended before finalize recorded layouts (or before validation): its files can only be served whole.
      if (cursor.chunks !== null && cursor.chunks.length > 0) {
        throw new ConflictError(
          `Batch ${batch.id} ended before its result layout was recorded: read its output and error files instead.`,
          'after',
          'cursor_not_resumable',
        );
      }
      return this.pageOf(batch.id, END, true, [out && { file: out, start: 0 }, err && { file: err, start: 0 }]);
    }
    const layout = JSON.parse(recorded) as ResultLayout;
    const positions = positionsFor(cursor, layout.out.length);
    const outStarts = segmentStarts(layout.out);
    const errStarts = segmentStarts(layout.err);
    const ranges: FileRange[] = [];
    positions.forEach((at, i) => {
      if (at === 'complete') return;
      if (at.out > layout.out[i] || at.err > layout.err[i]) throw invalidCursor();
      if (out && layout.out[i] > at.out) {
        ranges.push({ file: out, start: outStarts[i] + at.out, end: outStarts[i] + layout.out[i] });
      }
      if (err && layout.err[i] > at.err) {
        ranges.push({ file: err, start: errStarts[i] + at.err, end: errStarts[i] + layout.err[i] });
      }
    });
    // The lines finalize synthesized for requests that never got an answer follow every chunk's error lines.
    const synthesized = layout.err.reduce((n, b) => n + b, 0);
    if (err && Number(err.bytes) > synthesized) ranges.push({ file: err, start: synthesized });
    return this.pageOf(batch.id, END, true, ranges);
  }

  private pageOf(
    batchId: string,
    cursor: ResultCursor,
    complete: boolean,
    ranges: (FileRange | null | undefined)[],
  ): ResultsPage {
    const files = ranges.filter((r): r is FileRange => !!r);
    return {
      lines: Readable.from(this.fileLines(files)),
      nextCursor: encodeCursor(batchId, cursor),
      complete,
    };
  }

  /** An ended batch's output or error file; a 409 when the batch has one but it was deleted or has expired. */
  private async resultFile(batch: BatchRow, kind: 'output' | 'error'): Promise<FileRow | undefined> {
    const id = kind === 'output' ? batch.output_file_id : batch.error_file_id;
    if (!id) return undefined;
    const file = await this.storage.files.get(batch.owner, id);
    if (!file) {
      throw new ConflictError(
        `The ${kind} file ${id} of ${batch.id} was deleted or has expired: its lines can no longer be served.`,
        null,
        'results_gone',
      );
    }
    return file;
  }

  private async *fileLines(ranges: FileRange[]): AsyncGenerator<Buffer> {
    for (const r of ranges) {
      const end = r.end ?? Number(r.file.bytes);
      if (end > r.start) yield* this.storage.blobs.read(r.file.blob_key, { start: r.start, end });
    }
  }

  /**
   * Each range from the chunk's part files. Finalize removes them right after the batch ends: a range cut short by
   * that is finished from the final file, where the chunk's lines now are.
   */
  private async *liveLines(batchId: string, ranges: LiveRange[]): AsyncGenerator<Buffer> {
    const keys = batchKeys(batchId);
    for (const r of ranges) {
      let at = r.start;
      try {
        let partStart = 0;
        for (const part of r.parts) {
          const length = r.kind === 'out' ? part.outBytes : part.errBytes;
          const from = Math.max(at, partStart);
          const to = Math.min(r.end, partStart + length);
          if (from < to) {
            const key = r.kind === 'out' ? keys.out(r.chunk, part.attempt) : keys.err(r.chunk, part.attempt);
            for await (const bytes of this.storage.blobs.read(key, { start: from - partStart, end: to - partStart })) {
              yield bytes as Buffer;
              at += (bytes as Buffer).length;
            }
          }
          partStart += length;
        }
      } catch (err) {
        yield* await this.fromFinalFile(batchId, r, at, err);
      }
    }
  }

  /** The rest of a live range, [at, end) of its chunk's lines, from the ended batch's final file. */
  private async fromFinalFile(batchId: string, r: LiveRange, at: number, cause: unknown): Promise<Readable> {
    const batch = await this.storage.batches.getById(batchId);
    const recorded = batch && isFinal(batch.status) ? await this.storage.batches.resultLayout(batchId) : undefined;
    if (!batch || !recorded) throw cause;
    const file = await this.resultFile(batch, r.kind === 'out' ? 'output' : 'error');
    if (!file) throw cause;
    const layout = JSON.parse(recorded) as ResultLayout;
    const start = segmentStarts(layout[r.kind])[r.chunk];
    return this.storage.blobs.read(file.blob_key, { start: start + at, end: start + r.end });
  }
}

/** Bytes [start, end) of a result file (to its end without `end`). */
interface FileRange {
  file: FileRow;
  start: number;
  end?: number;
}
