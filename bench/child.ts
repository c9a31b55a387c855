import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { RESULTS_DIR } from './paths';

/** A spawned process with its combined output tail. */
export interface Child {
  proc: ChildProcess;
  pid: number;
  /** The last few kB of stdout and stderr. */
  output(): string;
  /** Resolves once the output contains `text`; rejects if the process exits first or `timeoutMs` passes. */
  waitFor(text: string, timeoutMs: number): Promise<void>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves on exit. */
  stop(graceMs?: number): Promise<void>;
}

/** Processes named in BENCH_PROFILE (e.g. `worker,api`) run with `--cpu-prof`, into bench/results/profiles. */
function profileArgs(name: string): string[] {
  const names = (process.env.BENCH_PROFILE ?? '').split(',').map((s) => s.trim());
  if (!names.includes(name)) return [];
  // One directory per process name; Node names each file by time and pid, so a supervisor's forks (which inherit
  // these flags) each write their own.
  const dir = join(RESULTS_DIR, 'profiles', name);
  mkdirSync(dir, { recursive: true });
  return ['--cpu-prof', '--cpu-prof-dir', dir];
}

/**
 * Spawns `node script ...args` with `env` merged over the bench's environment (and an IPC channel if asked).
 * A profiled process writes its profile when it exits, so it must be stopped, not killed.
 */
export function spawnNode(
  name: string,
  script: string,
  args: string[],
  env: Record<string, string>,
  ipc = false,
  nodeFlags: string[] = [],
): Child {
  const proc = spawn(process.execPath, [...nodeFlags, ...profileArgs(name), script, ...args], {
    env: { ...process.env, ...env },
    stdio: ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
  });
  if (proc.pid === undefined) throw new Error(`could not spawn ${name}`);
  let tail = '';
  const listeners = new Set<() => void>();
  const onData = (d: Buffer) => {
    tail = (tail + d.toString()).slice(-8000);
    for (const listener of listeners) listener();
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  return {
    proc,
    pid: proc.pid,
    output: () => tail,
    waitFor: (text, timeoutMs) =>
      new Promise<void>((resolve, reject) => {
        const done = (err?: Error) => {
          listeners.delete(check);
          clearTimeout(timer);
          if (err) reject(err);
          else resolve();
        };
        const check = () => {
          if (tail.includes(text)) done();
        };
        const timer = setTimeout(
          () => done(new Error(`${name}: no "${text}" within ${timeoutMs} ms:\n${tail}`)),
          timeoutMs,
        );
        listeners.add(check);
        void exited.then(() => done(new Error(`${name} exited (${proc.exitCode ?? proc.signalCode}):\n${tail}`)));
        check();
      }),
    async stop(graceMs = 15000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}
