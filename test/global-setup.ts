import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TemporalDevServer } from '../src/temporal/dev-server';
import { ensureTemporalCli } from '../src/temporal/temporal-cli';
import { freePort } from './support/free-port';
import { startTestBlobServer } from './support/test-blobs';
import { prepareTestDatabases } from './support/test-database';

const root = join(__dirname, '..');

/** One real Temporal dev server for the whole run; test files reach it through TEMPORAL_TEST_ADDRESS. */
export default async function globalSetup(): Promise<void> {
  // Tests that run the real entry points as child processes (npm start, a killable worker) use dist/, and every
  // in-process test worker loads the workflow bundle the build made instead of re-bundling.
  // Built before the dev server starts, so a failed build leaves no server behind.
  execFileSync('npm', ['run', 'build'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  process.env.TEMPORAL_TEST_WORKFLOW_BUNDLE = join(root, 'dist', 'workflow-bundle.js');
  await prepareTestDatabases();
  const dir = mkdtempSync(join(tmpdir(), 'batch-temporal-'));
  const server = await TemporalDevServer.start({
    cliPath: ensureTemporalCli(),
    dbFile: join(dir, 'temporal.db'),
    port: await freePort(),
    uiPort: await freePort(),
    namespace: 'default',
    headless: true,
  });
  process.env.TEMPORAL_TEST_ADDRESS = server.address;
  const g = globalThis as { __temporalDevServer?: TemporalDevServer; __stopBlobServer?: () => Promise<void> };
  g.__temporalDevServer = server;
  g.__stopBlobServer = await startTestBlobServer();
}
