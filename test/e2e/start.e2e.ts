import { Client, Connection } from '@temporalio/client';
import OpenAI from 'openai';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chatLine, readResults, uploadLines, waitForStatus } from '../support/batch-helpers';
import { freePort } from '../support/free-port';
import { testBlobEnv } from '../support/test-blobs';
import { dropTestDatabase, testDatabaseEnv } from '../support/test-database';
import { UpstreamSimulator } from '../support/upstream-simulator';

const root = join(__dirname, '..', '..');

/** Runs `npm start`'s entry (the built dist/src/start.js) and waits until /readyz answers. */
async function start(
  env: Record<string, string>,
  port: number,
): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(process.execPath, [join(root, 'dist/src/start.js')], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const deadline = Date.now() + 90000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`npm start exited ${child.exitCode}:\n${out}`);
    const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return { child, output: () => out };
    if (Date.now() > deadline) throw new Error(`npm start did not become ready:\n${out}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

async function stop(child: ChildProcess): Promise<number | null> {
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGINT');
  return exited;
}

/** True while a process with this exact command-line fragment runs. */
function running(fragment: string): boolean {
  try {
    return execFileSync('pgrep', ['-f', '--', fragment], { encoding: 'utf8' }).trim().length > 0;
  } catch {
    return false; // pgrep exits 1 when nothing matches
  }
}

describe('npm start: embedded dev server, worker and API in one process tree', () => {
  let sim: UpstreamSimulator;
  let dataDir: string;
  let databaseEnv: Record<string, string>;

  beforeAll(async () => {
    sim = await UpstreamSimulator.start();
    dataDir = mkdtempSync(join(tmpdir(), 'batch-start-'));
    databaseEnv = await testDatabaseEnv();
  });
  afterAll(async () => {
    await sim.close();
    await dropTestDatabase(databaseEnv.DATABASE_URL);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('runs a batch, stops cleanly on Ctrl-C with its children, and reuses its data on the next start', async () => {
    const [port, temporalPort, uiPort] = [await freePort(), await freePort(), await freePort()];
    const env = {
      DATA_DIR: dataDir,
      PORT: String(port),
      TEMPORAL_ADDRESS: '',
      TEMPORAL_DEV_PORT: String(temporalPort),
      TEMPORAL_UI_PORT: String(uiPort),
      UPSTREAM_BASE_URL: sim.baseUrl,
      TEMPORAL_TASK_QUEUE: 'batches',
      ...databaseEnv,
      ...(await testBlobEnv()),
    };
    const first = await start(env, port);
    const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'k', maxRetries: 0 });
    const created = await client.batches.create({
      input_file_id: await uploadLines(client, [chatLine('s-1'), chatLine('s-2')]),
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    const done = await waitForStatus(client, created.id, ['completed']);
    expect((await readResults(client, done.output_file_id)).map((l) => l.custom_id).sort()).toEqual(['s-1', 's-2']);
    expect((await fetch(`http://127.0.0.1:${uiPort}/`)).status).toBe(200);

    const connection = await Connection.connect({ address: `127.0.0.1:${temporalPort}` });
    const temporal = new Client({ connection });
    const described = await temporal.workflow.getHandle(created.id).describe();
    expect(described.status.name).toBe('COMPLETED');
    expect(described.searchAttributes.BatchStatus).toEqual(['completed']);
    await connection.close();

    const devServer = `--db-filename ${join(dataDir, 'temporal.db')}`;
    expect(running(devServer)).toBe(true);
    expect(await stop(first.child)).toBe(0);
    expect(running(devServer)).toBe(false);

    const second = await start(env, port);
    try {
      expect((await client.batches.retrieve(created.id)).status).toBe('completed');
      const again = await Connection.connect({ address: `127.0.0.1:${temporalPort}` });
      const desc = await new Client({ connection: again }).workflow.getHandle(created.id).describe();
      expect(desc.status.name).toBe('COMPLETED');
      await again.close();
    } finally {
      expect(await stop(second.child)).toBe(0);
    }
  });
});

/** Runs an entry point that is expected to refuse to start; resolves with its exit code and output. */
async function refusal(entry: string, env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, [join(root, 'dist/src', `${entry}.js`)], {
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60000);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(timer);
  return { code, output };
}

describe('start against the wrong Temporal', () => {
  let dataDir: string;
  beforeAll(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'batch-refusal-'));
  });
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it.each(['start', 'start-api', 'start-worker'])(
    '%s with TEMPORAL_ADDRESS pointing nowhere says which address failed and what to check',
    async (entry) => {
      const port = await freePort();
      const { code, output } = await refusal(entry, { DATA_DIR: dataDir, TEMPORAL_ADDRESS: `127.0.0.1:${port}` });
      expect(code).toBe(1);
      expect(output).toContain(`Cannot connect to Temporal at 127.0.0.1:${port} (TEMPORAL_ADDRESS, no TLS)`);
      expect(output).toMatch(/Check that a Temporal frontend listens there/);
      expect(output).toMatch(/TEMPORAL_TLS=true/);
    },
  );

  it('npm start refuses a dev server port that another program holds, naming the ways out', async () => {
    const port = await freePort();
    const holder = createServer().listen(port, '127.0.0.1');
    await new Promise((r) => holder.once('listening', r));
    try {
      const { code, output } = await refusal('start', { DATA_DIR: dataDir, TEMPORAL_DEV_PORT: String(port) });
      expect(code).toBe(1);
      expect(output).toContain(`Port ${port} on 127.0.0.1 (TEMPORAL_DEV_PORT) is taken by another program`);
      expect(output).toContain(`TEMPORAL_ADDRESS=127.0.0.1:${port}`);
      expect(output).toContain(`TEMPORAL_DEV_PORT=${port + 1}`);
    } finally {
      holder.close();
    }
  });

  it('npm start refuses a dev server port where a Temporal server already runs instead of silently using it', async () => {
    const [, port] = process.env.TEMPORAL_TEST_ADDRESS!.split(':');
    const { code, output } = await refusal('start', { DATA_DIR: dataDir, TEMPORAL_DEV_PORT: port });
    expect(code).toBe(1);
    expect(output).toMatch(
      new RegExp(`Port ${port} on 127.0.0.1 \\(TEMPORAL_DEV_PORT\\) is taken by a Temporal server`),
    );
    expect(output).not.toContain('API listening');
  });
});
