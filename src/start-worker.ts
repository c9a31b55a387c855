import 'reflect-metadata';
import cluster from 'node:cluster';
import { AggregatorRegistry } from 'prom-client';
import { connectNative } from './temporal/connection';
import { namespaceSettings, prepareNamespace } from './temporal/prepare-namespace';
import { loadConfig, type AppConfig } from './config/config';
import { loadRouting, splitRouting, type RoutingTable } from './upstream/routing';
import { runUntilSignal } from './process/lifecycle';
import { openStorage } from './storage/storage';
import { serveMetrics } from './metrics/metrics-server';
import { runWorkerProcesses, WORKER_READY, WORKER_SHUTDOWN } from './worker/worker-processes';
import type { WorkerProcessSetup } from './worker/activity-deps';
import { startBatchWorker } from './worker/batch-worker';
import { ConcurrencyReporter } from './upstream/concurrency-reporter';

/**
 * `npm run start:worker`: a worker alone, against TEMPORAL_ADDRESS. With WORKER_PROCESSES=N this process is the
 * supervisor of N worker processes (node:cluster) that split the upstream limits between them.
 */
async function main(): Promise<void> {
  const config = loadConfig();
  if (!config.TEMPORAL_ADDRESS) throw new Error('TEMPORAL_ADDRESS is required for start:worker (e.g. 127.0.0.1:7233)');
  if (cluster.isWorker) return runWorker(config, workerProcessSetup(config));
  // The worker's native connection, so a worker process never loads the gRPC-js client.
  const connection = await connectNative(config);
  await prepareNamespace(connection, namespaceSettings(config));
  await connection.close();
  if (config.WORKER_PROCESSES === 1) return runWorker(config);
  // Refuse limits that cannot be split before starting anything, and migrate once rather than in every process.
  // The table read here is the one every process routes by.
  const routing = loadRouting(config);
  splitRouting(routing, 0, config.WORKER_PROCESSES);
  await (await openStorage(config)).close();
  await runWorkerProcesses(config, routing);
}

/** This cluster worker's place among the WORKER_PROCESSES, from the variable the supervisor sets. */
function workerProcessSetup(config: AppConfig): WorkerProcessSetup {
  const index = Number(process.env.WORKER_PROCESS_INDEX);
  if (!Number.isInteger(index) || index < 0 || index >= config.WORKER_PROCESSES) {
    throw new Error(`WORKER_PROCESS_INDEX must be 0..${config.WORKER_PROCESSES - 1}, got ${index}`);
  }
  const shares = process.env.WORKER_CONCURRENCY_SHARES;
  const routing = process.env.WORKER_ROUTING;
  return {
    index,
    count: config.WORKER_PROCESSES,
    concurrency: shares ? (JSON.parse(shares) as Record<string, number>) : {},
    routing: routing ? (JSON.parse(routing) as RoutingTable) : undefined,
  };
}

async function runWorker(config: AppConfig, setup?: WorkerProcessSetup): Promise<void> {
  // A supervised process listens to its supervisor before anything else: a shutdown asked for during start is
  // acted on once the worker is up, and metrics requests are answered from the first moment.
  const reporter = setup ? new ConcurrencyReporter((m) => process.connected && process.send?.(m)) : undefined;
  const told = reporter ? listenToSupervisor(reporter) : undefined;
  const storage = await openStorage(config);
  const worker = await startBatchWorker(config, storage, undefined, setup);
  reporter?.attach(worker.router);
  let metrics: Awaited<ReturnType<typeof serveMetrics>> | undefined;
  if (setup) {
    // Said before the supervisor hears it, so this line comes out before the supervisor's own "polling" line.
    console.log(`worker process ${setup.index + 1} of ${setup.count} (pid ${process.pid}) ready`);
    process.send?.({ type: WORKER_READY });
  } else {
    if (config.WORKER_METRICS_PORT) metrics = await serveMetrics(config.HOST, config.WORKER_METRICS_PORT);
    console.log(`worker polling task queue '${config.TEMPORAL_TASK_QUEUE}' on ${config.TEMPORAL_ADDRESS}`);
  }
  const ended = told ? Promise.race([worker.done, told]) : worker.done;
  const stopReporting = async () => reporter?.stop();
  await runUntilSignal(
    [async () => metrics?.close(), () => worker.shutdown(), stopReporting, () => storage.close()],
    ended,
  );
}

/**
 * Answers the supervisor's metrics requests (it serves their sum on WORKER_METRICS_PORT), hands the concurrency
 * shares it sends to `reporter`, and resolves when it asks this process to shut down. It asks over IPC rather than
 * by signal: Ctrl-C already signals the whole process group, and a second signal would force the exit. If the supervisor itself dies, node:cluster ends this process
 * at once; Temporal then retries its chunks from their checkpoints.
 */
function listenToSupervisor(reporter: ConcurrencyReporter): Promise<void> {
  new AggregatorRegistry();
  return new Promise<void>((resolve) => {
    process.on('message', (m: unknown) => {
      if (reporter.onMessage(m)) return;
      if ((m as { type?: unknown } | null)?.type === WORKER_SHUTDOWN) resolve();
    });
  });
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
