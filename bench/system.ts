import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { configSchema } from '../src/config/config';
import { freePort } from '../test/support/free-port';
import { spawnNode, type Child } from './child';
import { ENTRY } from './paths';
import { RssSampler, memoryKb } from './proc-stats';
import { sleep } from './stats';

/** A running API and worker, each in its own process, with a fresh data directory. */
export interface BatchSystem {
  apiUrl: string;
  api: Child;
  worker: Child;
  /** VmHWM (kB) of each process right after it became ready, before any batch. */
  startupHwmKb: { api: number; worker: number };
  /** Stops the RSS samplers (before the processes exit) and returns their peaks. */
  memory(): { api: ReturnType<RssSampler['stop']>; worker: ReturnType<RssSampler['stop']> };
  stop(): Promise<void>;
}

let queueSeq = 0;

/** The bench's environment without any of the service's own settings, so only what we pass applies. */
function cleanEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of Object.keys(configSchema.shape)) env[key] = '';
  return env;
}

/** Where the API's and the worker's entry points are: this build's, or another build's (a paired comparison). */
export interface SystemEntries {
  api: string;
  worker: string;
  /** Node options the worker is started with (e.g. heap sizes), none by default. */
  workerNodeFlags?: string[];
}

/** Starts `node dist/src/worker.js` and `node dist/src/api.js` against Temporal and the simulator. */
export async function startSystem(
  temporalAddress: string,
  upstream: string,
  extra: Record<string, string> = {},
  entries: SystemEntries = ENTRY,
) {
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-data-'));
  const port = await freePort();
  const env = {
    ...cleanEnv(),
    DATA_DIR: dataDir,
    PORT: String(port),
    HOST: '127.0.0.1',
    TEMPORAL_ADDRESS: temporalAddress,
    TEMPORAL_TASK_QUEUE: `bench-${process.pid}-${++queueSeq}`,
    UPSTREAM_BASE_URL: upstream,
    LOG_LEVEL: 'warn',
    // High enough never to answer 429 to B5's read load, while the limiter itself stays in the request path.
    API_RATE_LIMIT_PER_MINUTE: '1000000',
    ...extra,
  };
  const worker = spawnNode('worker', entries.worker, [], env, false, entries.workerNodeFlags);
  const workerRss = new RssSampler(worker.pid);
  try {
    // One at a time: both migrate the fresh database at start, and two migrating at once can collide.
    await worker.waitFor('worker polling', 120000);
  } catch (err) {
    workerRss.stop();
    await worker.stop();
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  const api = spawnNode('api', entries.api, [], env);
  const samplers = { api: new RssSampler(api.pid), worker: workerRss };
  try {
    await waitReady(`http://127.0.0.1:${port}/readyz`, api, 60000);
  } catch (err) {
    samplers.api.stop();
    samplers.worker.stop();
    await Promise.all([api.stop(), worker.stop()]);
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  const system: BatchSystem = {
    apiUrl: `http://127.0.0.1:${port}/v1`,
    api,
    worker,
    startupHwmKb: { api: memoryKb(api.pid)?.hwm ?? NaN, worker: memoryKb(worker.pid)?.hwm ?? NaN },
    memory: () => ({ api: samplers.api.stop(), worker: samplers.worker.stop() }),
    async stop() {
      samplers.api.stop();
      samplers.worker.stop();
      await Promise.all([api.stop(), worker.stop()]);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return system;
}

async function waitReady(url: string, api: Child, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (api.proc.exitCode !== null) throw new Error(`api exited (${api.proc.exitCode}):\n${api.output()}`);
    try {
      const res = await request(url);
      await res.body.dump();
      if (res.statusCode === 200) return;
    } catch {
      // Not listening yet.
    }
    await sleep(200);
  }
  throw new Error(`api not ready within ${timeoutMs} ms:\n${api.output()}`);
}
