import type { ActivityDeps } from '../../activities/deps';
import type { AppConfig } from '../config/config';
import type { Storage } from '../storage/storage';
import { loadTenants } from '../tenants/tenants-file';
import { loadRouting, splitRouting, type RoutingTable } from '../upstream/routing';
import { UpstreamRouter } from '../upstream/upstream-router';
import { WebhookSender } from '../webhooks/webhook-sender';

/** Which of the WORKER_PROCESSES worker processes this is (0-based) and how many there are. */
export interface WorkerProcessSetup {
  index: number;
  count: number;
  /** The concurrency share it starts with, by upstream name (default: an equal split). */
  concurrency?: Record<string, number>;
  /**
   * The routing table as the supervisor read it at start (default: read it now). A process restarted later uses
   * the same table as the supervisor's books, even if UPSTREAMS_FILE changed meanwhile.
   */
  routing?: RoutingTable;
}

/** The activity dependencies for this configuration; `setup` splits the upstream limits between worker processes. */
export function activityDeps(
  config: AppConfig,
  storage: Storage,
  setup: WorkerProcessSetup = { index: 0, count: 1 },
): ActivityDeps {
  const tenants = loadTenants(config.TENANTS_FILE);
  const router = new UpstreamRouter(
    splitRouting(setup.routing ?? loadRouting(config), setup.index, setup.count, setup.concurrency),
    {
      maxRetries: config.UPSTREAM_MAX_RETRIES,
      retryBaseMs: config.UPSTREAM_RETRY_BASE_MS,
      retryMaxMs: config.UPSTREAM_RETRY_MAX_MS,
      outageToleranceMs: config.UPSTREAM_OUTAGE_TOLERANCE_MS,
    },
    (owner) => tenants.weightOf(owner),
  );
  return {
    files: storage.files,
    batches: storage.batches,
    admissions: storage.admissions,
    blobs: storage.blobs,
    tenants,
    router,
    settings: {
      completionWindowSeconds: config.COMPLETION_WINDOW_SECONDS,
      chunkSize: config.CHUNK_SIZE,
      chunkWindow: config.CHUNK_WINDOW,
      checkpointIntervalMs: config.CHECKPOINT_INTERVAL_MS,
      heartbeatTimeoutMs: config.CHUNK_HEARTBEAT_TIMEOUT_MS,
      progressRefreshMs: config.PROGRESS_REFRESH_SECONDS * 1000,
      maxBatchRequests: config.MAX_BATCH_REQUESTS,
      maxChunks: config.MAX_CHUNKS_PER_BATCH,
    },
    webhook: WebhookSender.fromConfig(config),
  };
}
