import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { frontendVersion } from './connection';
import { BATCH_SEARCH_ATTRIBUTES } from './prepare-namespace';

/** How to run the embedded Temporal dev server. */
export interface DevServerOptions {
  cliPath: string;
  /** SQLite file that keeps workflows across restarts. */
  dbFile: string;
  ip?: string;
  port: number;
  uiPort: number;
  namespace: string;
  headless?: boolean;
  startTimeoutMs?: number;
}

/** A `temporal server start-dev` child process with the batch search attributes registered. */
export class TemporalDevServer {
  private stderrTail = '';

  private constructor(
    private readonly child: ChildProcess,
    readonly address: string,
    readonly uiUrl: string | undefined,
  ) {
    child.stderr?.on('data', (d: Buffer) => {
      this.stderrTail = (this.stderrTail + d.toString()).slice(-4000);
    });
  }

  /**
   * Starts the server and resolves once it answers; rejects with its output if it exits or times out. A port already
   * taken is refused before anything starts: otherwise another server there (say a `temporal server start-dev` of the
   * user's) would answer the readiness check and silently hold every batch.
   */
  static async start(opts: DevServerOptions): Promise<TemporalDevServer> {
    mkdirSync(dirname(opts.dbFile), { recursive: true });
    const ip = opts.ip ?? '127.0.0.1';
    await refuseTakenPort(ip, opts.port, 'TEMPORAL_DEV_PORT', true);
    if (!opts.headless) await refuseTakenPort(ip, opts.uiPort, 'TEMPORAL_UI_PORT', false);
    const args = ['server', 'start-dev', '--db-filename', opts.dbFile, '--ip', ip, '--port', String(opts.port)];
    args.push('--namespace', opts.namespace, '--log-level', 'warn');
    if (opts.headless) args.push('--headless');
    else args.push('--ui-port', String(opts.uiPort));
    for (const name of BATCH_SEARCH_ATTRIBUTES) args.push('--search-attribute', `${name}=Keyword`);
    // The activity a workflow task schedules comes back in that task's completion when this worker has a free slot,
    // instead of through the task queue: a round trip and a matching write less for each validate, chunk and finalize.
    args.push('--dynamic-config-value', 'system.enableActivityEagerExecution=true');
    const child = spawn(opts.cliPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    const address = `${ip}:${opts.port}`;
    const server = new TemporalDevServer(child, address, opts.headless ? undefined : `http://${ip}:${opts.uiPort}`);
    try {
      await server.waitUntilReady(opts.startTimeoutMs ?? 60000);
    } catch (err) {
      await server.stop();
      throw err;
    }
    return server;
  }

  private async waitUntilReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let exited: string | undefined;
    this.child.once('exit', (code, signal) => (exited = `exited with ${code ?? signal}`));
    while (Date.now() < deadline) {
      if (exited) throw new Error(`Temporal dev server ${exited}:\n${this.stderrTail}`);
      if ((await frontendVersion(this.address)) !== undefined) return;
      // Not listening yet: poll again until the deadline.
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(
      `Temporal dev server did not answer on ${this.address} within ${timeoutMs} ms:\n${this.stderrTail}`,
    );
  }

  /** The child's pid (tests kill it to simulate a crash). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Stops the server: SIGTERM, then SIGKILL after a grace period. */
  async stop(graceMs = 10000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
}

/** Thrown when a port the dev server needs is taken; the message says by what and the ways out. */
export class DevServerPortTakenError extends Error {}

/** True when nothing listens on `ip:port` (we could bind it). */
export function portFree(ip: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, ip, () => probe.close(() => resolve(true)));
  });
}

async function refuseTakenPort(ip: string, port: number, variable: string, grpc: boolean): Promise<void> {
  if (await portFree(ip, port)) return;
  const version = grpc ? await frontendVersion(`${ip}:${port}`, 1500) : undefined;
  const holder = version
    ? `a Temporal server (${version}), perhaps a \`temporal server start-dev\` of yours`
    : 'another program';
  const ways = grpc
    ? `Either use that server on purpose, with TEMPORAL_ADDRESS=${ip}:${port} (the batches' workflow state then lives in ` +
      `its database, not under DATA_DIR), or start the embedded one elsewhere, e.g. ${variable}=${port + 1}.`
    : `Start the embedded Web UI elsewhere, e.g. ${variable}=${port + 1}.`;
  throw new DevServerPortTakenError(`Port ${port} on ${ip} (${variable}) is taken by ${holder}. ${ways}`);
}
