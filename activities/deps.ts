import type { BatchStore } from '../src/storage/batch.store';
import type { BlobStore } from '../src/storage/blob.store';
import type { FileStore } from '../src/storage/file.store';
import type { UpstreamRouter } from './upstream-router';
import type { WebhookSender } from './webhook-sender';

/** Settings the activities read. */
export interface ActivitySettings {
  completionWindowSeconds: number;
  chunkSize: number;
  chunkWindow: number;
  checkpointIntervalMs: number;
  /** How long a silent chunk may go before Temporal retries it elsewhere (a crashed worker is noticed this fast). */
  heartbeatTimeoutMs: number;
  maxBatchRequests: number;
  /** A batch is cut into at most this many chunks, whatever chunkSize says, so its workflow history stays small. */
  maxChunks: number;
}

/** The narrow dependencies the activities need; the worker builds them once. */
export interface ActivityDeps {
  files: FileStore;
  batches: BatchStore;
  blobs: BlobStore;
  router: UpstreamRouter;
  settings: ActivitySettings;
  /** Present when WEBHOOK_URL is set: end states are announced through it. */
  webhook?: WebhookSender;
}

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
