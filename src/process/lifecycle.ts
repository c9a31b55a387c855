/** Waits for SIGINT/SIGTERM (or for `ended` to settle), then runs the stop steps in order and exits. */
export async function runUntilSignal(stops: (() => Promise<unknown>)[], ended?: Promise<unknown>): Promise<void> {
  const signalled = new Promise<string>((resolve) => {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => resolve(sig));
  });
  const stopped = ended?.then(
    () => 'stopped',
    (e: unknown) => `failed: ${String(e)}`,
  );
  const why = await Promise.race(stopped ? [signalled, stopped] : [signalled]);
  console.log(`${why}: shutting down (press Ctrl-C again to force)`);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(130));
  let code = why.startsWith('failed') ? 1 : 0;
  for (const stop of stops) {
    try {
      await stop();
    } catch (err) {
      console.error('shutdown step failed:', err);
      code = 1;
    }
  }
  process.exit(code);
}

/** What closing the API needs: Nest's close and the HTTP server under it. */
interface ClosableApi {
  close(): Promise<void>;
  getHttpServer(): { closeAllConnections(): void };
}

/**
 * Closes the API: it stops accepting connections and waits for the requests in flight (an upload under way
 * completes), for at most `graceMs` (API_SHUTDOWN_GRACE_MS); then it closes the connections still open, so a stalled
 * client cannot hold shutdown.
 */
export async function closeApi(app: ClosableApi, graceMs: number): Promise<void> {
  const timer = setTimeout(() => {
    console.warn(`requests still in flight after ${graceMs} ms: closing their connections`);
    app.getHttpServer().closeAllConnections();
  }, graceMs);
  try {
    await app.close();
  } finally {
    clearTimeout(timer);
  }
}
