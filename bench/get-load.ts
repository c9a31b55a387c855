import { Pool } from 'undici';

/** Throughput of a fixed-duration GET load. */
export interface GetLoadResult {
  ms: number;
  ok: number;
  other: number;
  rps: number;
  /** Answers by status code (`error` for a failed request), for diagnosing non-200s. */
  statuses: Record<string, number>;
}

/** Upper bound on requests per run, so a runaway loop still ends. */
const MAX_REQUESTS = 5_000_000;

/** `concurrency` loops issuing `GET origin+path` back to back over one pool for `durationMs`; counts 200s. */
export async function getLoad(origin: string, path: string, concurrency: number, durationMs: number) {
  const pool = new Pool(origin, { connections: concurrency, pipelining: 1, keepAliveTimeout: 60_000 });
  const result: GetLoadResult = { ms: 0, ok: 0, other: 0, rps: 0, statuses: {} };
  const count = (key: string) => (result.statuses[key] = (result.statuses[key] ?? 0) + 1);
  let sent = 0;
  const t0 = performance.now();
  const end = t0 + durationMs;
  const loop = async () => {
    while (performance.now() < end && sent < MAX_REQUESTS) {
      sent++;
      try {
        const res = await pool.request({ path, method: 'GET', headers: { authorization: 'Bearer bench' } });
        await res.body.arrayBuffer();
        if (res.statusCode === 200) result.ok++;
        else result.other++;
        count(String(res.statusCode));
      } catch (err) {
        result.other++;
        count(`error ${(err as { code?: string }).code ?? (err as Error).message}`);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, loop));
  } finally {
    result.ms = performance.now() - t0;
    await pool.close();
  }
  result.rps = (result.ok * 1000) / result.ms;
  return result;
}
