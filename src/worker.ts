import 'reflect-metadata';
import { ensureSearchAttributes } from './temporal/search-attributes';
import { NativeConnection } from '@temporalio/worker';
import { loadConfig } from './config/config';
import { runUntilSignal } from './process/lifecycle';
import { openStorage } from './storage/storage';
import { serveMetrics } from './metrics/metrics-server';
import { startBatchWorker } from './worker/batch-worker';

/** `npm run start:worker`: a worker alone, against TEMPORAL_ADDRESS. */
async function main(): Promise<void> {
  const config = loadConfig();
  if (!config.TEMPORAL_ADDRESS) throw new Error('TEMPORAL_ADDRESS is required for start:worker (e.g. 127.0.0.1:7233)');
  // The worker's native connection, so a worker process never loads the gRPC-js client.
  const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
  await ensureSearchAttributes(connection, config.TEMPORAL_NAMESPACE);
  await connection.close();
  const storage = await openStorage(config);
  const worker = await startBatchWorker(config, storage);
  const metrics = config.WORKER_METRICS_PORT ? await serveMetrics(config.HOST, config.WORKER_METRICS_PORT) : undefined;
  console.log(`worker polling task queue '${config.TEMPORAL_TASK_QUEUE}' on ${config.TEMPORAL_ADDRESS}`);
  await runUntilSignal([async () => metrics?.close(), () => worker.shutdown(), () => storage.close()], worker.done);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
