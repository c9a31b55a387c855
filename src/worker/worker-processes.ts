import cluster, { type Worker as ClusterWorker } from 'node:cluster';
import type { Server } from 'node:http';
import { AggregatorRegistry } from 'prom-client';
import type { AppConfig } from '../config/config';
import { serveMetrics } from '../metrics/metrics-server';
import type { RoutingTable } from '../upstream/routing';
import {
  CONCURRENCY_DEMAND,
  ConcurrencyBroker,
  type DemandMessage,
  type ShareChange,
} from '../upstream/concurrency-broker';

/** Message from a worker process once it polls. */
export const WORKER_READY = 'worker-ready';
/** Message to a worker process: shut down gracefully (checkpoint running chunks, then exit). */
export const WORKER_SHUTDOWN = 'worker-shutdown';

const FIRST_RESTART_DELAY_MS = 1000;
/** A graceful stop that takes longer than this (each process has a 10 s shutdown grace) ends with SIGKILL. */
const SHUTDOWN_DEADLINE_MS = 30_000;
const MAX_RESTART_DELAY_MS = 30_000;
/** A process that ran this long before it died is restarted at the first delay again. */
const STABLE_AFTER_MS = 30_000;

const isMessage = (m: unknown, type: string): boolean => (m as { type?: unknown } | null)?.type === type;

/**
 * Supervises WORKER_PROCESSES worker processes (node:cluster forks of this entry, each told its index in
 * WORKER_PROCESS_INDEX). A process that dies after start (a crash, the OOM killer) is started again with a growing
 * delay; Temporal retries the chunks it held, which resume from their checkpoints. SIGINT or SIGTERM shuts them all
 * down gracefully (a second signal, or SHUTDOWN_DEADLINE_MS, kills them); so does a process failing during start,
 * and the supervisor then exits 1. WORKER_METRICS_PORT serves the sum of their metrics. Each upstream's
 * concurrency is shared between the processes and moved to those that have work (ConcurrencyBroker).
 */
export async function runWorkerProcesses(config: AppConfig, routing: RoutingTable): Promise<void> {
  const count = config.WORKER_PROCESSES;
  const registry = new AggregatorRegistry();
  const live = new Map<number, ClusterWorker>();
  // Every process, restarted ones included, routes by this table, the one the broker's books are for.
  const upstreams = routing.upstreams.map((u) => ({ name: u.name, total: u.maxConcurrency }));
  const broker = new ConcurrencyBroker(upstreams, count);
  const tell = (changes: ShareChange[]) => {
    for (const { index, message } of changes) {
      const w = live.get(index);
      if (w?.isConnected()) w.send(message);
    }
  };
  /** Processes that reported ready during start (a process that dies then fails the start, so none counts twice). */
  let readyAtStart = 0;
  let started = false;
  let stopping = false;
  let metrics: Server | undefined;
  let allExited!: () => void;
  const exited = new Promise<void>((resolve) => (allExited = resolve));
  let startFailed!: (err: Error) => void;
  const failed = new Promise<never>((_, reject) => (startFailed = reject));
  /** A process that exited badly (not 0) while the supervisor was stopping them. */
  let unclean = false;

  const killAll = () => {
    for (const w of live.values()) w.process.kill('SIGKILL');
  };
  /** Asks every process to stop; a second signal, or the deadline, kills them. Resolves with the exit code. */
  const stopAll = async (code: number): Promise<number> => {
    stopping = true;
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      process.once(sig, () => {
        killAll();
        process.exit(130);
      });
    }
    const deadline = setTimeout(() => {
      console.error(`worker processes still running after ${SHUTDOWN_DEADLINE_MS} ms; killing them`);
      unclean = true;
      killAll();
    }, SHUTDOWN_DEADLINE_MS);
    if (live.size === 0) allExited();
    for (const w of live.values()) if (w.isConnected()) w.send({ type: WORKER_SHUTDOWN });
    await exited;
    clearTimeout(deadline);
    await new Promise<void>((resolve) => (metrics ? metrics.close(() => resolve()) : resolve()));
    return unclean ? Math.max(code, 1) : code;
  };

  const fork = (index: number, delayMs = FIRST_RESTART_DELAY_MS) => {
    const forkedAt = Date.now();
    const shares = JSON.stringify(broker.started(index));
    const w = cluster.fork({
      WORKER_PROCESS_INDEX: String(index),
      WORKER_CONCURRENCY_SHARES: shares,
      WORKER_ROUTING: JSON.stringify(routing),
    });
    live.set(index, w);
    w.on('message', (m: unknown) => {
      if (isMessage(m, CONCURRENCY_DEMAND)) {
        if (live.get(index) === w) tell(broker.report(index, (m as DemandMessage).upstreams));
        return;
      }
      if (!isMessage(m, WORKER_READY)) return;
      // Ready after the others were told to stop (it was still starting): tell it again, now that it listens.
      if (stopping) {
        w.send({ type: WORKER_SHUTDOWN });
        return;
      }
      if (!started && ++readyAtStart === count) {
        started = true;
        console.log(
          `worker polling task queue '${config.TEMPORAL_TASK_QUEUE}' on ${config.TEMPORAL_ADDRESS} (${count} processes)`,
        );
      }
    });
    w.on('exit', (code, signal) => {
      live.delete(index);
      tell(broker.exited(index));
      if (stopping) {
        if (code !== 0) unclean = true;
        if (live.size === 0) allExited();
        return;
      }
      const why = signal ?? `code ${code}`;
      if (!started) {
        startFailed(new Error(`worker process ${index + 1} of ${count} exited during start (${why})`));
        return;
      }
      const delay = Date.now() - forkedAt >= STABLE_AFTER_MS ? FIRST_RESTART_DELAY_MS : delayMs;
      console.error(
        `worker process ${index + 1} of ${count} (pid ${w.process.pid}) exited (${why}); restarting in ${delay} ms`,
      );
      setTimeout(() => {
        if (!stopping) fork(index, Math.min(MAX_RESTART_DELAY_MS, delay * 2));
      }, delay);
    });
  };

  for (let i = 0; i < count; i++) fork(i);
  const signalled = new Promise<string>((resolve) => {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => resolve(sig));
  });
  try {
    if (config.WORKER_METRICS_PORT) {
      const sum = { metrics: () => registry.clusterMetrics(), contentType: registry.contentType };
      metrics = await serveMetrics(config.HOST, config.WORKER_METRICS_PORT, sum);
    }
    const why = await Promise.race([signalled, failed]);
    console.log(`${why}: shutting down ${live.size} worker processes (press Ctrl-C again to force)`);
  } catch (err) {
    // A process failed during start, or the metrics port could not be opened: stop the rest and fail.
    console.error((err as Error).message);
    process.exit(await stopAll(1));
  }
  process.exit(await stopAll(0));
}
