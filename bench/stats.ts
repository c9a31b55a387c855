/** The median of a non-empty list. */
export function median(values: number[]): number {
  if (!values.length) throw new Error('median of an empty list');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Rounds to `digits` decimals. */
export const round = (value: number, digits = 2): number => Math.round(value * 10 ** digits) / 10 ** digits;

/** Milliseconds as seconds text, e.g. `12.34 s`. */
export const secs = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;

/** Kilobytes as megabytes text, e.g. `123.4 MB`. */
export const mb = (kb: number): string => `${(kb / 1024).toFixed(1)} MB`;

/** A count per second as text, e.g. `2,512 req/s`. */
export const perSec = (count: number, ms: number): string =>
  `${Math.round((count * 1000) / ms).toLocaleString('en-US')} req/s`;

/** Sleeps `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
