import { IllegalStateError } from '@temporalio/common';
import { setFlagsFromString } from 'node:v8';
import { DefaultLogger, NativeConnection, Runtime, Worker, type LogLevel } from '@temporalio/worker';
import { createActivities } from '../../activities';
import { injectFaultsAfterCommit } from '../../activities/fault-injection';
import type { ActivityDeps } from '../../activities/deps';
import type { UpstreamClient } from '../../activities/upstream-client';
import { UpstreamRouter } from '../../activities/upstream-router';
import { WebhookSender } from '../../activities/webhook-sender';
import { loadRouting, shareRouting, type RoutingTable } from '../config/upstreams';
import { TemporalPinoLogger, createLogger } from '../logging/logger';
import { defaultWorkflowSource, type WorkflowSource } from './workflow-source';
import { setUpMaintenance } from './maintenance';
import { gaugeFrom } from '../metrics/metrics';
import type { AppConfig } from '../config/config';
import type { Storage } from '../storage/storage';

/** A running batch worker and what it owns. */
export interface BatchWorker {
  worker: Worker;
  router: UpstreamRouter;
  /** Resolves when the worker has stopped (after shutdown() or a fatal error). */
  done: Promise<void>;
  /** Stops polling, lets running chunks checkpoint, then closes connections. */
  shutdown(): Promise<void>;
}

/** Which of the WORKER_PROCESSES worker processes this is (0-based) and how many there are. */
export interface WorkerShare {
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

/** The activity dependencies for this configuration; `share` splits the upstream limits between worker processes. */
export function activityDeps(
  config: AppConfig,
  storage: Storage,
  share: WorkerShare = { index: 0, count: 1 },
): ActivityDeps {
  const router = new UpstreamRouter(
    shareRouting(share.routing ?? loadRouting(config), share.index, share.count, share.concurrency),
    {
      maxRetries: config.UPSTREAM_MAX_RETRIES,
      retryBaseMs: config.UPSTREAM_RETRY_BASE_MS,
      retryMaxMs: config.UPSTREAM_RETRY_MAX_MS,
      outageToleranceMs: config.UPSTREAM_OUTAGE_TOLERANCE_MS,
    },
  );
  return {
    files: storage.files,
    batches: storage.batches,
    blobs: storage.blobs,
    router,
    settings: {
      completionWindowSeconds: config.COMPLETION_WINDOW_SECONDS,
      chunkSize: config.CHUNK_SIZE,
      chunkWindow: config.CHUNK_WINDOW,
      checkpointIntervalMs: config.CHECKPOINT_INTERVAL_MS,
      heartbeatTimeoutMs: config.CHUNK_HEARTBEAT_TIMEOUT_MS,
      maxBatchRequests: config.MAX_BATCH_REQUESTS,
      maxChunks: config.MAX_CHUNKS_PER_BATCH,
    },
    webhook: WebhookSender.fromConfig(config),
  };
}

/**
 * Caps how far the heap may grow past its live set before V8 collects it. A busy worker allocates fast (a parsed
 * request, its body text, the answer) but keeps little; left to itself V8 grows the heap to several times the
 * live set, which showed as 370-450 MB of resident memory under load where 30% growth keeps it under 300 MB.
 * V8 reads this flag at every full collection, so setting it now takes effect.
 */
function limitHeapGrowth(percent: number): void {
  if (percent > 0) setFlagsFromString(`--heap-growing-percent=${percent}`);
}

let runtimeInstalled = false;

/** Sets the Temporal SDK's log level once per process (it cannot change after the first worker). */
export function installTemporalRuntime(level: AppConfig['LOG_LEVEL']): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  const map: Record<AppConfig['LOG_LEVEL'], LogLevel> = {
    fatal: 'ERROR',
    error: 'ERROR',
    warn: 'WARN',
    info: 'INFO',
    debug: 'DEBUG',
    trace: 'TRACE',
    silent: 'ERROR',
  };
  try {
    const logger =
      level === 'silent' ? new DefaultLogger(map[level]) : new TemporalPinoLogger(createLogger(level, 'worker'));
    Runtime.install({ logger });
  } catch (err) {
    // Another module instance in this process (a test file) installed it first: that runtime stays.
    if (!(err instanceof IllegalStateError)) throw err;
  }
}

/** In-flight, queued and allowed concurrency per upstream, read at scrape time. */
function registerUpstreamGauges(router: UpstreamRouter): void {
  const gauge = (name: string, help: string, read: (c: UpstreamClient) => number) =>
    gaugeFrom(name, help, ['upstream'], (g) => {
      for (const c of router.all()) g.set({ upstream: c.name }, read(c));
    });
  gauge('batch_upstream_in_flight', 'Upstream requests in flight', (c) => c.limiter.inFlight);
  gauge('batch_upstream_queued', 'Requests waiting for an upstream slot', (c) => c.limiter.queued);
  gauge('batch_upstream_concurrency_limit', 'Allowed concurrency after AIMD backoff', (c) => c.limiter.limit);
}

/** Creates and starts a worker on TEMPORAL_TASK_QUEUE; it runs until shutdown(). */
export async function startBatchWorker(
  config: AppConfig,
  storage: Storage,
  source: WorkflowSource = defaultWorkflowSource(),
  share?: WorkerShare,
): Promise<BatchWorker> {
  if (!config.TEMPORAL_ADDRESS) throw new Error('TEMPORAL_ADDRESS is required to start a worker');
  installTemporalRuntime(config.LOG_LEVEL);
  limitHeapGrowth(config.WORKER_HEAP_GROWING_PERCENT);
  const deps = activityDeps(config, storage, share);
  // A worker killed mid-finalize leaves a temp file behind; its successor removes it.
  await storage.blobs.sweepTemp?.();
  registerUpstreamGauges(deps.router);
  const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
  const maintenance = await setUpMaintenance(config, storage, connection);
  if (config.FAULT_INJECT_AFTER_COMMIT.length > 0) {
    console.warn(`FAULT_INJECT_AFTER_COMMIT is set (test only): ${config.FAULT_INJECT_AFTER_COMMIT.join(', ')}`);
  }
  const worker = await Worker.create({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    ...source,
    activities: injectFaultsAfterCommit(
      { ...createActivities(deps), ...maintenance },
      config.FAULT_INJECT_AFTER_COMMIT,
    ),
    // Heartbeats carry cancellation back to a chunk; sending them at least every second keeps cancel prompt.
    maxHeartbeatThrottleInterval: '1 second',
    defaultHeartbeatThrottleInterval: '1 second',
    shutdownGraceTime: '10 seconds',
  });
  const done = worker.run().finally(async () => {
    await deps.router.close();
    await deps.webhook?.close();
    await connection.close();
  });
  return {
    worker,
    router: deps.router,
    done,
    async shutdown() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await done;
    },
  };
}
