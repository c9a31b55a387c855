import { Connection } from '@temporalio/client';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { BATCH_SEARCH_ATTRIBUTES } from './register-search-attributes';

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

  /** Starts the server and resolves once it answers; rejects with its output if it exits or times out. */
  static async start(opts: DevServerOptions): Promise<TemporalDevServer> {
    mkdirSync(dirname(opts.dbFile), { recursive: true });
    const ip = opts.ip ?? '127.0.0.1';
    const args = ['server', 'start-dev', '--db-filename', opts.dbFile, '--ip', ip, '--port', String(opts.port)];
    args.push('--namespace', opts.namespace, '--log-level', 'warn');
    if (opts.headless) args.push('--headless');
    else args.push('--ui-port', String(opts.uiPort));
    for (const name of BATCH_SEARCH_ATTRIBUTES) args.push('--search-attribute', `${name}=Keyword`);
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
      try {
        const connection = await Connection.connect({ address: this.address, connectTimeout: 1000 });
        try {
          await connection.workflowService.getSystemInfo({});
          return;
        } finally {
          await connection.close();
        }
      } catch {
        // Not listening yet: poll again until the deadline.
        await new Promise((r) => setTimeout(r, 250));
      }
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
