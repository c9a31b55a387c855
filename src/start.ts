import 'reflect-metadata';
import { join, resolve } from 'node:path';
import { createApp } from './app';
import { loadConfig, type AppConfig } from './config/config';
import { closeApi, runUntilSignal } from './process/lifecycle';
import { openStorage } from './storage/storage';
import { TemporalDevServer } from './temporal/dev-server';
import { connectClient } from './temporal/connection';
import { namespaceSettings, prepareNamespace } from './temporal/prepare-namespace';
import { ensureTemporalCli } from './temporal/temporal-cli';
import { startBatchWorker } from './worker/batch-worker';

/** `npm start`: a Temporal dev server (unless TEMPORAL_ADDRESS is set), one worker and the API, in one process tree. */
async function main(): Promise<void> {
  let config = loadConfig();
  let devServer: TemporalDevServer | undefined;
  if (!config.TEMPORAL_ADDRESS) {
    devServer = await TemporalDevServer.start({
      cliPath: ensureTemporalCli(),
      dbFile: resolve(join(config.DATA_DIR, 'temporal.db')),
      ip: config.HOST,
      port: config.TEMPORAL_DEV_PORT,
      uiPort: config.TEMPORAL_UI_PORT,
      namespace: config.TEMPORAL_NAMESPACE,
    });
    config = { ...config, TEMPORAL_ADDRESS: devServer.address } satisfies AppConfig;
    console.log(`Temporal dev server on ${devServer.address}, Web UI ${devServer.uiUrl}`);
  }
  const connection = await connectClient(config);
  await prepareNamespace(connection, namespaceSettings(config));
  await connection.close();
  if (!config.API_KEYS) console.warn('warning: API_KEYS is not set; the API is open with one owner.');

  const storage = await openStorage(config);
  const worker = await startBatchWorker(config, storage);
  const app = await createApp(config, storage);
  await app.listen({ port: config.PORT, host: config.HOST });
  console.log(`API listening on http://${config.HOST}:${config.PORT}/v1`);
  await runUntilSignal(
    [
      () => closeApi(app, config.API_SHUTDOWN_GRACE_MS),
      () => worker.shutdown(),
      () => storage.close(),
      async () => devServer?.stop(),
    ],
    worker.done,
  );
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
