import 'reflect-metadata';
import { createApp } from './app';
import { loadConfig } from './config/config';
import { closeApi, runUntilSignal } from './process/lifecycle';
import { connectClient } from './temporal/connection';
import { namespaceSettings, prepareNamespace } from './temporal/prepare-namespace';

/** `npm run start:api`: the API alone, against TEMPORAL_ADDRESS. */
async function main(): Promise<void> {
  const config = loadConfig();
  if (!config.TEMPORAL_ADDRESS) throw new Error('TEMPORAL_ADDRESS is required for start:api (e.g. 127.0.0.1:7233)');
  // A fresh cluster has no namespace and no batch search attributes until someone makes them.
  const connection = await connectClient(config);
  await prepareNamespace(connection, namespaceSettings(config));
  await connection.close();
  const app = await createApp(config);
  await app.listen({ port: config.PORT, host: config.HOST });
  console.log(`API listening on http://${config.HOST}:${config.PORT}/v1`);
  await runUntilSignal([() => closeApi(app, config.API_SHUTDOWN_GRACE_MS)]);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
