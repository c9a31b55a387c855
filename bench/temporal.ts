import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TemporalDevServer } from '../src/temporal/dev-server';
import { ensureTemporalCli } from '../src/temporal/temporal-cli';
import { freePort } from '../test/support/free-port';

/** The run's Temporal dev server and its scratch directory. */
export interface BenchTemporal {
  server: TemporalDevServer;
  address: string;
  stop(): Promise<void>;
}

/** Starts a headless dev server on free 127.0.0.1 ports with a throwaway database. */
export async function startTemporal(): Promise<BenchTemporal> {
  const cliPath = ensureTemporalCli();
  const dir = mkdtempSync(join(tmpdir(), 'bench-temporal-'));
  const server = await TemporalDevServer.start({
    cliPath,
    dbFile: join(dir, 'temporal.db'),
    port: await freePort(),
    uiPort: await freePort(),
    namespace: 'default',
    headless: true,
  });
  return {
    server,
    address: server.address,
    async stop() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
