import { partsOf, type ChunkState } from './chunk-state';

/**
 * Where each chunk's lines sit in a batch's files. A chunk's committed lines are, in each file kind, its parts' valid
 * prefixes in order; they only ever grow (a claim freezes the previous attempt's part at its last checkpoint), so what
 * was committed at any moment is a prefix of what the chunk ends with. The output file is every chunk's output lines
 * in chunk order; the error file every chunk's error lines in chunk order, then the lines finalize synthesizes for
 * requests that never got an answer.
 */
export interface ResultLayout {
  /** Bytes of each chunk's output lines. */
  out: number[];
  /** Bytes of each chunk's error lines (synthesized lines not included). */
  err: number[];
}

/** Bytes of a chunk's committed lines in its output and error parts. */
export function committedBytes(state: ChunkState): { out: number; err: number } {
  let out = 0;
  let err = 0;
  for (const part of partsOf(state)) {
    out += part.outBytes;
    err += part.errBytes;
  }
  return { out, err };
}

/** The layout of the final files joined from these chunk states. */
export function layoutOf(states: ChunkState[]): ResultLayout {
  const layout: ResultLayout = { out: [], err: [] };
  for (const s of states) {
    const { out, err } = committedBytes(s);
    layout.out.push(out);
    layout.err.push(err);
  }
  return layout;
}

/** Where each chunk's segment starts in a file whose chunks have these lengths. */
export function segmentStarts(lengths: number[]): number[] {
  const starts: number[] = [];
  let at = 0;
  for (const n of lengths) {
    starts.push(at);
    at += n;
  }
  return starts;
}
