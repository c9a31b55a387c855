import { spawnNode, type Child } from './child';
import { ENTRY } from './paths';
import type { SimRequest, SimStats } from './sim-process';

/** The upstream simulator running in a child process. */
export interface SimulatorProcess {
  child: Child;
  baseUrl: string;
  /** Peak in-flight and total calls since start or the last reset; `reset` zeroes them after reading. */
  stats(reset?: boolean): Promise<SimStats>;
  stop(): Promise<void>;
}

/** Starts the simulator on a random 127.0.0.1 port with a fixed latency. */
export async function startSimulator(latencyMs: number): Promise<SimulatorProcess> {
  const child = spawnNode(
    'simulator',
    ENTRY.simulator,
    ['--host', '127.0.0.1', '--latency-ms', String(latencyMs)],
    {},
    true,
  );
  await child.waitFor('/v1\n', 10000);
  const baseUrl = child.output().trim().split('\n')[0];
  const stats = (reset = false) =>
    new Promise<SimStats>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('simulator did not answer stats')), 5000);
      child.proc.once('message', (msg: SimStats) => {
        clearTimeout(timer);
        resolve(msg);
      });
      const request: SimRequest = { type: reset ? 'reset' : 'stats' };
      child.proc.send(request);
    });
  return { child, baseUrl, stats, stop: () => child.stop() };
}
