import { createHash } from 'node:crypto';
import { InvalidRequestError } from '../common/errors';

/**
 * How far a client has read a batch's results. Per chunk: either every line of a chunk that had finished (`complete`),
 * or the bytes served of its output and of its error lines (a prefix of what the chunk commits; see ResultLayout).
 * `null` chunks: nothing served yet, whatever the chunk count. `end`: every line of the ended batch was served.
 */
export type ChunkPosition = 'complete' | { out: number; err: number };
export type ResultCursor = { end: true } | { end: false; chunks: ChunkPosition[] | null };

/** The cursor before anything was served. */
export const START: ResultCursor = { end: false, chunks: null };
export const END: ResultCursor = { end: true };

/**
 * The cursor's text: a tag of the batch id (a cursor of another batch is refused), then the positions run-length
 * encoded (`c3` three complete chunks, `z2` two untouched ones, `1200.85` one served that far), base64url. Only the
 * chunks running when the page was read need numbers, so a cursor stays short even for a batch of a thousand chunks.
 */
export function encodeCursor(batchId: string, cursor: ResultCursor): string {
  const body = cursor.end ? 'end' : cursor.chunks === null ? '' : runs(cursor.chunks);
  return Buffer.from(`${tagOf(batchId)}|${body}`).toString('base64url');
}

/** Reads a cursor given back by a client; throws a 400 (`invalid_cursor`) for anything this API did not hand out. */
export function decodeCursor(batchId: string, text: string): ResultCursor {
  const [tag, body, ...rest] = Buffer.from(text, 'base64url').toString('utf8').split('|');
  if (rest.length > 0 || body === undefined || tag !== tagOf(batchId)) throw invalidCursor();
  if (body === 'end') return END;
  if (body === '') return START;
  const chunks: ChunkPosition[] = [];
  for (const entry of body.split(',')) {
    const run = /^([cz])(\d{1,5})$/.exec(entry);
    if (run) {
      const n = Number(run[2]);
      if (n < 1 || chunks.length + n > MAX_CHUNKS) throw invalidCursor();
      for (let i = 0; i < n; i++) chunks.push(run[1] === 'c' ? 'complete' : { out: 0, err: 0 });
      continue;
    }
    const at = /^(\d{1,15})\.(\d{1,15})$/.exec(entry);
    if (!at || chunks.length >= MAX_CHUNKS) throw invalidCursor();
    chunks.push({ out: Number(at[1]), err: Number(at[2]) });
  }
  return { end: false, chunks };
}

/** The cursor's positions for a batch of `count` chunks (a cursor with another count was not made for this batch). */
export function positionsFor(cursor: { chunks: ChunkPosition[] | null }, count: number): ChunkPosition[] {
  if (cursor.chunks === null) return Array.from({ length: count }, () => ({ out: 0, err: 0 }));
  if (cursor.chunks.length !== count) throw invalidCursor();
  return cursor.chunks;
}

/** A 400 for a cursor this API did not hand out for this batch, or one ahead of what the batch committed. */
export const invalidCursor = (): InvalidRequestError =>
  new InvalidRequestError(
    "Invalid cursor: pass the x-next-cursor header of this batch's previous results page as `after`, unchanged.",
    'after',
    'invalid_cursor',
  );

/** More chunks than any batch may have (MAX_CHUNKS_PER_BATCH is at most 1,500). */
const MAX_CHUNKS = 100_000;

const tagOf = (batchId: string): string => createHash('sha256').update(batchId).digest('base64url').slice(0, 8);

function runs(chunks: ChunkPosition[]): string {
  const entries: string[] = [];
  for (let i = 0; i < chunks.length;) {
    const p = chunks[i];
    const kind = p === 'complete' ? 'c' : p.out === 0 && p.err === 0 ? 'z' : undefined;
    if (kind === undefined) {
      const at = p as { out: number; err: number };
      entries.push(`${at.out}.${at.err}`);
      i++;
      continue;
    }
    let n = 0;
    while (i < chunks.length && sameKind(chunks[i], kind)) {
      n++;
      i++;
    }
    entries.push(`${kind}${n}`);
  }
  return entries.join(',');
}

const sameKind = (p: ChunkPosition, kind: 'c' | 'z'): boolean =>
  kind === 'c' ? p === 'complete' : p !== 'complete' && p.out === 0 && p.err === 0;
