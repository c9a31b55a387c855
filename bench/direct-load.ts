import { Pool } from 'undici';

/** How a fixed list of requests went. */
export interface LoadResult {
  ms: number;
  ok: number;
  errors: number;
  /** Mean time from sending a request to having read its whole answer (ms), over the requests that got one. */
  meanLatencyMs: number;
}

/**
 * Sends every body as `POST {base}/chat/completions` with `concurrency` requests in flight over a keep-alive pool,
 * reading each response fully; stops early (counting the rest as errors) after `timeoutMs`.
 */
export async function sendDirect(baseUrl: string, bodies: string[], concurrency: number, timeoutMs: number) {
  const url = new URL(`${baseUrl}/chat/completions`);
  const pool = new Pool(url.origin, { connections: concurrency, pipelining: 1, keepAliveTimeout: 60_000 });
  const deadline = Date.now() + timeoutMs;
  const result: LoadResult = { ms: 0, ok: 0, errors: 0, meanLatencyMs: 0 };
  let next = 0;
  let latencyTotal = 0;
  let answered = 0;
  const loop = async () => {
    while (next < bodies.length && Date.now() < deadline) {
      const body = bodies[next++];
      const sent = performance.now();
      try {
        const res = await pool.request({
          path: url.pathname,
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: 'Bearer bench' },
          body,
        });
        await res.body.arrayBuffer();
        latencyTotal += performance.now() - sent;
        answered++;
        if (res.statusCode === 200) result.ok++;
        else result.errors++;
      } catch {
        result.errors++;
      }
    }
  };
  const t0 = performance.now();
  try {
    await Promise.all(Array.from({ length: concurrency }, loop));
  } finally {
    result.ms = performance.now() - t0;
    await pool.close();
  }
  result.errors += bodies.length - next;
  result.meanLatencyMs = answered ? latencyTotal / answered : 0;
  return result;
}
