// Where a batch's working files live in the blob store, and the chunk index that cuts its input into chunks.

/** Token 0 names the part files of checkpoints written before part files were per attempt. */
const partTag = (token: number): string => (token > 0 ? `.a${token}` : '');

/** Where a batch's working blobs live. */
export const batchKeys = (batchId: string) => ({
  dir: `batches/${batchId}`,
  index: `batches/${batchId}/index.json`,
  /**
   * A chunk's part files are per attempt (named by its fencing token), so an attempt that lost the chunk can never
   * write into its successor's.
   */
  out: (chunk: number, token: number) => `batches/${batchId}/chunks/${chunk}${partTag(token)}.out.jsonl`,
  err: (chunk: number, token: number) => `batches/${batchId}/chunks/${chunk}${partTag(token)}.err.jsonl`,
  /** Where checkpoints were kept before they moved into the metadata store (read for chunks checkpointed then). */
  state: (chunk: number, token: number) => `batches/${batchId}/chunks/${chunk}${partTag(token)}.state.json`,
});

/** A chunk of the input: its byte range and how many requests it holds. */
export interface ChunkSpec {
  start: number;
  end: number;
  count: number;
  firstLine: number;
}

/** The chunk index validation writes. */
export interface ChunkIndex {
  endpoint: string;
  inputBlobKey: string;
  /** The batch's model (absent in indexes written before it was recorded). */
  model?: string | null;
  chunks: ChunkSpec[];
}
