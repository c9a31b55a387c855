import type { TemporalDevServer } from '../src/temporal/dev-server';

/** Stops the shared dev server. */
export default async function globalTeardown(): Promise<void> {
  await (globalThis as { __temporalDevServer?: TemporalDevServer }).__temporalDevServer?.stop();
}
