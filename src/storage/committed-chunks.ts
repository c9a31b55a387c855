import { batchKeys, type ChunkIndex } from '../batch-format/blob-layout';
import { emptyChunkState, type ChunkState } from '../batch-format/chunk-state';
import type { BlobStore } from './blob.store';

// Reading what a batch's chunks committed: the chunk index validation wrote, and each chunk's last checkpoint. The
// worker reads them to resume and finalize a chunk; the API reads them to serve results while the batch runs.

/** Reads the chunk index validation wrote (undefined before validation, and once finalize has removed it). */
export async function loadChunkIndex(blobs: BlobStore, batchId: string): Promise<ChunkIndex | undefined> {
  const raw = await blobs.readBuffer(batchKeys(batchId).index);
  return raw ? (JSON.parse(raw.toString('utf8')) as ChunkIndex) : undefined;
}

/**
 * The checkpoint a chunk's owner committed, as the metadata store holds it. Chunks checkpointed before checkpoints
 * moved into the store have none there: theirs is the state file their owner wrote to the blob store (or none at all).
 */
export async function committedState(
  blobs: BlobStore,
  batchId: string,
  chunk: number,
  committed: { owner: number; state: string | null },
): Promise<ChunkState> {
  if (committed.state !== null) return JSON.parse(committed.state) as ChunkState;
  const raw = await blobs.readBuffer(batchKeys(batchId).state(chunk, committed.owner));
  return raw ? (JSON.parse(raw.toString('utf8')) as ChunkState) : emptyChunkState();
}

/** Every chunk's committed state, from the metadata store's rows of the batch; a chunk without a row has not started. */
export function committedStates(
  blobs: BlobStore,
  batchId: string,
  index: ChunkIndex,
  committed: Map<number, { owner: number; state: string | null }>,
): Promise<ChunkState[]> {
  return Promise.all(
    index.chunks.map((_, i) => {
      const c = committed.get(i);
      return c ? committedState(blobs, batchId, i, c) : emptyChunkState();
    }),
  );
}
