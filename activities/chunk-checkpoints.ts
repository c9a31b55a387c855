import type { ChunkIndex } from '../src/batch-format/blob-layout';
import { emptyChunkState, startAttempt, type ChunkState } from '../src/batch-format/chunk-state';
import type { Checkpoint } from '../src/storage/batch.store';
import { committedState, committedStates } from '../src/storage/committed-chunks';
import type { ActivityDeps } from './deps';

// A chunk's checkpoints, all in one place: validation writes the chunk index, an attempt claims its chunk and saves
// checkpoints, finalize fences every chunk and reads what each committed. The state itself is ChunkState
// (src/batch-format/chunk-state.ts); the rows live in the metadata store beside each chunk's fencing token, and
// src/storage/committed-chunks.ts reads them back.

/**
 * Claims a chunk for a new attempt: a fencing token never used before, and the state to resume from (the last
 * checkpoint, with the previous attempt's part frozen), stored in one compare-and-set. From then on any earlier
 * attempt still running is refused at its next checkpoint.
 */
export async function claimChunk(
  deps: ActivityDeps,
  batchId: string,
  chunk: number,
): Promise<{ token: number; state: ChunkState }> {
  let state = emptyChunkState();
  const token = await deps.batches.claimChunk(batchId, chunk, async (previous, next) => {
    state = await committedState(deps.blobs, batchId, chunk, previous);
    startAttempt(state, next);
    return checkpointOf(state);
  });
  return { token, state };
}

/** Saves a checkpoint if `token` still owns the chunk; false when a later attempt (or finalize) took it. */
export function saveCheckpoint(
  deps: ActivityDeps,
  batchId: string,
  chunk: number,
  token: number,
  state: ChunkState,
): Promise<boolean> {
  return deps.batches.saveChunkProgress(batchId, chunk, token, checkpointOf(state));
}

/**
 * Takes every chunk of the batch away from its attempts and reads what each committed (a chunk that never started has
 * the empty state). After this no attempt can checkpoint, so what is read is final.
 */
export async function fenceAndReadChunks(
  deps: ActivityDeps,
  batchId: string,
  index: ChunkIndex | undefined,
): Promise<ChunkState[]> {
  if (!index) return [];
  return committedStates(deps.blobs, batchId, index, await deps.batches.fenceChunks(batchId));
}

/** A chunk state as the metadata store keeps it. */
const checkpointOf = (state: ChunkState): Checkpoint => ({
  completed: state.completed,
  failed: state.failed,
  usage: state.usage,
  state: JSON.stringify(state),
});
