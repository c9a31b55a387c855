import { parseCliArgs } from '../test/support/simulator-cli';
import { UpstreamSimulator } from '../test/support/upstream-simulator';

/** A message the bench sends to the simulator process. */
export type SimRequest = { type: 'stats' } | { type: 'reset' };
/** The simulator process's answer to `stats`. */
export interface SimStats {
  type: 'stats';
  peakInFlight: number;
  totalCalls: number;
  /** Epoch ms of the first request and the last response since the last reset (undefined before any). */
  busySpan?: { firstAt: number; lastAt: number };
}

/**
 * The upstream simulator in its own process, like simulator-cli, plus an IPC channel so the bench can read
 * its peak in-flight count and call total without sharing CPU with it.
 */
async function main(): Promise<void> {
  const sim = await UpstreamSimulator.start(parseCliArgs(process.argv.slice(2)));
  process.on('message', (msg: SimRequest) => {
    const stats: SimStats = {
      type: 'stats',
      peakInFlight: sim.peakInFlight,
      totalCalls: sim.totalCalls,
      busySpan: sim.busySpan,
    };
    if (msg.type === 'reset') sim.reset();
    process.send?.(stats);
  });
  const stop = (): void => {
    sim.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', stop);
  // The bench died without stopping us: do not linger.
  process.once('disconnect', stop);
  process.stdout.write(`${sim.baseUrl}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
