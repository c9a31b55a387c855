import type { TemporalDevServer } from '../src/temporal/dev-server';

/** Stops the shared dev server and any blob server. */
export default async function globalTeardown(): Promise<void> {
  const g = globalThis as { __temporalDevServer?: TemporalDevServer; __stopBlobServer?: () => Promise<void> };
  await g.__temporalDevServer?.stop();
  await g.__stopBlobServer?.();
}
