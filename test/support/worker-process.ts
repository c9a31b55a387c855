import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { AppConfig } from '../../src/config/config';

/** A worker in its own process (`npm run start:worker`'s entry), so a test can SIGKILL it. */
export interface WorkerProcess {
  child: ChildProcess;
  output(): string;
  kill(signal: NodeJS.Signals): Promise<void>;
}

/** The environment that gives a child process the same configuration as `config`. */
export function envFor(config: AppConfig): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(config)) {
    if (v === undefined) continue;
    env[k] = v instanceof Map ? [...v].map(([key, owner]) => `${key}:${owner}`).join(',') : String(v);
  }
  return env;
}

/** Starts `node dist/src/worker.js` with `config` and waits until it polls. */
export async function spawnWorker(config: AppConfig, env: Record<string, string> = {}): Promise<WorkerProcess> {
  const child = spawn(process.execPath, [join(__dirname, '..', '..', 'dist', 'src', 'worker.js')], {
    env: { ...process.env, ...envFor(config), LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const ready = new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer) => {
      out += d.toString();
      if (out.includes('worker polling')) resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`worker exited ${code}:\n${out}`)));
  });
  await ready;
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
