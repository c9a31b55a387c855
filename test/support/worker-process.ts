import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { AppConfig } from '../../src/config/config';

/** One of the service's entry points (`dist/src/*.js`) in its own process, so a test can signal or kill it. */
export interface EntryProcess {
  child: ChildProcess;
  /** Everything it printed so far. */
  output(): string;
  /** Sends `signal` and waits until it has exited (at once if it already has). */
  kill(signal: NodeJS.Signals): Promise<void>;
}

/** A worker process (`npm run start:worker`'s entry). */
export type WorkerProcess = EntryProcess;

/** The environment that gives a child process the same configuration as `config`. */
export function envFor(config: AppConfig): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(config)) {
    if (v === undefined) continue;
    env[k] = v instanceof Map ? [...v].map(([key, owner]) => `${key}:${owner}`).join(',') : String(v);
  }
  return env;
}

/**
 * Starts `node dist/src/<entry>.js` with `env` over this process's environment and waits for `ready` in its output
 * (`null`: returns at once, and the process may still be starting or already gone).
 */
export async function spawnEntry(
  entry: string,
  env: Record<string, string>,
  ready: string | null,
): Promise<EntryProcess> {
  const child = spawn(process.execPath, [join(__dirname, '..', '..', 'dist', 'src', `${entry}.js`)], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const started = new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer) => {
      out += d.toString();
      if (ready !== null && out.includes(ready)) resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${entry} exited ${code}:\n${out}`)));
  });
  if (ready === null) started.catch(() => undefined);
  else await started;
  return {
    child,
    output: () => out,
    kill: async (signal) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill(signal);
      await exited;
    },
  };
}

/** Starts `node dist/src/start-worker.js` with `config` (plus `env`) and waits until it polls. */
export function spawnWorker(config: AppConfig, env: Record<string, string> = {}): Promise<WorkerProcess> {
  return spawnEntry('start-worker', { ...envFor(config), LOG_LEVEL: 'warn', ...env }, 'worker polling');
}
