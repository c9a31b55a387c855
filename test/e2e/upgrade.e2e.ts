import { Client, Connection } from '@temporalio/client';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/config';
import { createChatBatch, waitForStatus } from '../support/batch-helpers';
import { expectConsistentEnd } from '../support/expectations';
import { pollUntil } from '../support/maintenance';
import { startStack, type Stack } from '../support/stack';
import { testBlobEnv } from '../support/test-blobs';
import { testDatabaseEnv } from '../support/test-database';
import { UpstreamSimulator } from '../support/upstream-simulator';
import { envFor } from '../support/worker-process';

const root = join(__dirname, '..', '..');
/** The worker code upgraded from: the previous commit unless UPGRADE_FROM_REF names another. */
const FROM = process.env.UPGRADE_FROM_REF ?? 'HEAD~1';

const git = (...args: string[]) => execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trim();

/**
 * A rolling upgrade while a batch runs: the batch starts on a worker built from the previous commit, that worker is
 * killed, and a worker of the current code takes over the same workflows (replaying their histories) and chunks
 * (resuming from checkpoints the old code wrote). The batch completes with every line once.
 */
describe(`upgrade: a batch half done by the worker of ${FROM}, finished by the current one`, () => {
  let oldTree: string;
  let dataDir: string;
  let sim: UpstreamSimulator;
  let stack: Stack;
  let old: ChildProcess | undefined;
  let oldOutput = '';

  beforeAll(async () => {
    const sha = git('rev-parse', FROM);
    oldTree = mkdtempSync(join(tmpdir(), 'batch-upgrade-from-'));
    git('worktree', 'add', '--force', '--detach', oldTree, sha);
    // The same dependencies when the lock file is the same; otherwise the old tree installs its own.
    if (git('diff', '--name-only', sha, 'HEAD', '--', 'package-lock.json') === '') {
      symlinkSync(join(root, 'node_modules'), join(oldTree, 'node_modules'));
      execFileSync('npm', ['run', 'build'], { cwd: oldTree, stdio: 'ignore' });
    } else {
      execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: oldTree, stdio: 'ignore' });
    }
    sim = await UpstreamSimulator.start({ latencyMs: 50 });
    dataDir = mkdtempSync(join(tmpdir(), 'batch-upgrade-'));
  }, 600_000);

  afterAll(async () => {
    old?.kill('SIGKILL');
    await stack?.close();
    await sim?.close();
    if (oldTree) git('worktree', 'remove', '--force', oldTree);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('completes with every line once; chunks ran on both workers', async () => {
    const env = {
      DATA_DIR: dataDir,
      TEMPORAL_ADDRESS: process.env.TEMPORAL_TEST_ADDRESS!,
      TEMPORAL_TASK_QUEUE: `upgrade-${Math.random().toString(36).slice(2, 8)}`,
      UPSTREAM_BASE_URL: sim.baseUrl,
      UPSTREAM_CONCURRENCY: '4',
      CHUNK_SIZE: '20',
      CHECKPOINT_INTERVAL_MS: '200',
      CHUNK_HEARTBEAT_TIMEOUT_MS: '3000',
      LOG_LEVEL: 'warn',
      ...(await testDatabaseEnv()),
      ...(await testBlobEnv()),
    };
    // The old worker starts first, on the store as its code knows it.
    const entry = ['start-worker.js', 'worker.js']
      .map((f) => join(oldTree, 'dist', 'src', f))
      .find((f) => existsSync(f))!;
    old = spawn(process.execPath, [entry], {
      env: { ...process.env, ...envFor(loadConfig(env)) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    old.stdout!.on('data', (d: Buffer) => (oldOutput += d.toString()));
    old.stderr!.on('data', (d: Buffer) => (oldOutput += d.toString()));
    await pollUntil(
      async () => oldOutput,
      (out) => out.includes('worker polling'),
      60000,
    ).catch(() => {
      throw new Error(`the worker of ${FROM} did not start:\n${oldOutput}`);
    });
    stack = await startStack(env, { worker: false });
    const client = stack.client();
    const { ids, batch } = await createChatBatch(client, 'up', 300);
    await pollUntil(
      () => client.batches.retrieve(batch.id),
      (b) => (b.request_counts?.completed ?? 0) >= 80,
      60000,
    );
    // The old worker is gone (a rolling upgrade replaced it); the current code takes over.
    const oldPid = old.pid;
    old.kill('SIGKILL');
    await stack.startWorker();
    const done = await waitForStatus(client, batch.id, ['completed', 'failed', 'expired', 'cancelled'], 120_000);
    expect(done.status).toBe('completed');
    await expectConsistentEnd(client, done, ids);

    const connection = await Connection.connect({ address: env.TEMPORAL_ADDRESS });
    try {
      const history = await new Client({ connection }).workflow.getHandle(batch.id).fetchHistory();
      // The old worker ran the batch's first workflow tasks (validation, a local activity for an input this small, and
      // the scheduling of the first chunks) and the requests done before it died, all of them, since it was the only
      // worker then. The chunk attempts it ran were retried by the current worker, whose identity the history keeps.
      type HistoryEvent = NonNullable<typeof history.events>[number];
      const identities = (pick: (e: HistoryEvent) => string | null | undefined) =>
        new Set((history.events ?? []).map(pick).filter((id): id is string => !!id));
      const workflowWorkers = identities((e) => e.workflowTaskStartedEventAttributes?.identity);
      const activityWorkers = identities((e) => e.activityTaskStartedEventAttributes?.identity);
      expect([...workflowWorkers].some((id) => id.startsWith(`${oldPid}@`))).toBe(true);
      expect([...workflowWorkers].some((id) => id.startsWith(`${process.pid}@`))).toBe(true);
      expect([...activityWorkers].some((id) => id.startsWith(`${process.pid}@`))).toBe(true);
      const builds = new Set(
        (history.events ?? [])
          .map((e) => e.workflowTaskCompletedEventAttributes?.workerVersion?.buildId)
          .filter((b): b is string => !!b),
      );
      console.log(
        `upgrade from ${FROM} (${git('rev-parse', '--short', FROM)}): workflow tasks by ${builds.size} build(s)`,
      );
    } finally {
      await connection.close();
    }
  }, 300_000);
});
