import { bundleWorkflowCode } from '@temporalio/worker';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TemporalDevServer } from '../src/temporal/dev-server';
import { ensureTemporalCli } from '../src/temporal/temporal-cli';
import { freePort } from './support/free-port';

const noop = () => undefined;
const quietLogger = { trace: noop, debug: noop, info: noop, warn: console.warn, error: console.error, log: noop };

/** One real Temporal dev server for the whole run; test files reach it through TEMPORAL_TEST_ADDRESS. */
export default async function globalSetup(): Promise<void> {
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
  // Bundle the workflow code once; every test worker loads the same bundle instead of re-bundling.
  const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve('../workflows'), logger: quietLogger });
  const bundlePath = join(dir, 'workflow-bundle.js');
  writeFileSync(bundlePath, code);
  process.env.TEMPORAL_TEST_WORKFLOW_BUNDLE = bundlePath;
  // Tests that run the real entry points as child processes (npm start, a killable worker) use dist/.
  execFileSync('npm', ['run', 'build'], { cwd: join(__dirname, '..'), stdio: 'ignore' });
  (globalThis as { __temporalDevServer?: TemporalDevServer }).__temporalDevServer = server;
}
