import { availableParallelism } from 'node:os';

/** Run options read from the environment. */
export interface BenchOptions {
  /** Scenario ids to run (BENCH_ONLY=B1,B3); undefined runs all. */
  only: Set<string> | undefined;
  /** Multiplier on request counts and load durations (BENCH_SCALE=0.1 for a smoke run). */
  scale: number;
  /** WORKER_PROCESSES for the throughput scenarios (BENCH_WORKER_PROCESSES; default: one per core). */
  workerProcesses: number;
}

/** Parses BENCH_ONLY and BENCH_SCALE; throws on a bad scale. */
export function benchOptions(env: NodeJS.ProcessEnv = process.env): BenchOptions {
  const ids = (env.BENCH_ONLY ?? '')
    .split(',')
    .map((s) => s.trim().toUpperCase())
    .filter(Boolean);
  const scale = env.BENCH_SCALE ? Number(env.BENCH_SCALE) : 1;
  if (!Number.isFinite(scale) || scale <= 0 || scale > 1)
    throw new Error(`BENCH_SCALE must be in (0, 1], got ${scale}`);
  const workerProcesses = env.BENCH_WORKER_PROCESSES ? Number(env.BENCH_WORKER_PROCESSES) : availableParallelism();
  if (!Number.isInteger(workerProcesses) || workerProcesses < 1)
    throw new Error(`BENCH_WORKER_PROCESSES must be a positive integer, got ${env.BENCH_WORKER_PROCESSES}`);
  return { only: ids.length ? new Set(ids) : undefined, scale, workerProcesses };
}

/** `n` shrunk by the scale, at least `min`. */
export const scaled = (n: number, scale: number, min = 1): number => Math.max(min, Math.round(n * scale));
