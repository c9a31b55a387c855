import 'reflect-metadata';
import { createApp } from './app';
import { loadConfig } from './config/config';
import { closeApi, runUntilSignal } from './process/lifecycle';

/** `npm run start:api`: the API alone, against TEMPORAL_ADDRESS. */
async function main(): Promise<void> {
  const config = loadConfig();
  if (!config.TEMPORAL_ADDRESS) throw new Error('TEMPORAL_ADDRESS is required for start:api (e.g. 127.0.0.1:7233)');
  const app = await createApp(config);
  await app.listen({ port: config.PORT, host: config.HOST });
  console.log(`API listening on http://${config.HOST}:${config.PORT}/v1`);
  await runUntilSignal([() => closeApi(app, config.API_SHUTDOWN_GRACE_MS)]);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
