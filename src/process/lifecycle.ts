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
