/** Run options read from the environment. */
export interface BenchOptions {
  /** Scenario ids to run (BENCH_ONLY=B1,B3); undefined runs all. */
  only: Set<string> | undefined;
  /** Multiplier on request counts and load durations (BENCH_SCALE=0.1 for a smoke run). */
  scale: number;
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
  return { only: ids.length ? new Set(ids) : undefined, scale };
}

/** `n` shrunk by the scale, at least `min`. */
export const scaled = (n: number, scale: number, min = 1): number => Math.max(min, Math.round(n * scale));
