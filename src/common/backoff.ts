// Retry waits, shared by the upstream client and the webhook sender.

/** Parses Retry-After (seconds or an HTTP date) into milliseconds. */
export function retryAfterMs(header: string | string[] | undefined): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/** How long to wait before retrying. */
export interface BackoffPolicy {
  /** The first wait (before jitter); each later one doubles. */
  baseMs: number;
  /** No wait is longer, Retry-After included. */
  maxMs: number;
  /** A Retry-After shorter than this is waited for this long (default 0). */
  minRetryAfterMs?: number;
}

/**
 * The wait before the attempt after `attempt` (1-based): the server's Retry-After when it gave one, else exponential
 * backoff with jitter (a uniform pick between half and all of the doubled wait), both capped.
 */
export function backoffMs(policy: BackoffPolicy, attempt: number, retryAfter?: number): number {
  if (retryAfter !== undefined) return Math.min(policy.maxMs, Math.max(retryAfter, policy.minRetryAfterMs ?? 0));
  const exp = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(attempt - 1, 30));
  return exp / 2 + Math.random() * (exp / 2);
}
