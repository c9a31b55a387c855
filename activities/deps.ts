import type { AdmissionStore } from '../src/storage/admission.store';
import type { BatchStore } from '../src/storage/batch.store';
import type { BlobStore } from '../src/storage/blob.store';
import type { FileStore } from '../src/storage/file.store';
import type { Tenants } from '../src/tenants/tenants';
import type { UpstreamRouter } from '../src/upstream/upstream-router';
import type { WebhookSender } from '../src/webhooks/webhook-sender';

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
  /** How often a running batch's workflow refreshes its current details from the store (PROGRESS_REFRESH_SECONDS). */
  progressRefreshMs: number;
}

/** The narrow dependencies the activities need; the worker builds them once. */
export interface ActivityDeps {
  files: FileStore;
  batches: BatchStore;
  admissions: AdmissionStore;
  blobs: BlobStore;
  /** Each owner's limits and fair-share weight (TENANTS_FILE). */
  tenants: Tenants;
  router: UpstreamRouter;
  settings: ActivitySettings;
  /** Present when WEBHOOK_URL is set: end states are announced through it. */
  webhook?: WebhookSender;
}
