import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { AppConfig } from '../../src/config/config';
import { envFor } from './worker-process';

/** An API in its own process (`npm run start:api`'s entry), so a test can SIGKILL it. */
export interface ApiProcess {
  child: ChildProcess;
  baseURL: string;
  /** Everything it printed so far. */
  output(): string;
  kill(signal: NodeJS.Signals): Promise<void>;
}

/** Starts `node dist/src/api.js` with `config` on `port` and waits until it listens. */
export async function spawnApi(config: AppConfig, port: number, env: Record<string, string> = {}): Promise<ApiProcess> {
  const child = spawn(process.execPath, [join(__dirname, '..', '..', 'dist', 'src', 'api.js')], {
    env: { ...process.env, ...envFor(config), PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer) => {
      out += d.toString();
      if (out.includes('API listening')) resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`API exited ${code}:\n${out}`)));
  });
  return {
    child,
    baseURL: `http://127.0.0.1:${port}/v1`,
    output: () => out,
    kill: async (signal) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill(signal);
      await exited;
    },
  };
}
