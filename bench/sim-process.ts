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
  /** Average in-flight requests per 250 ms since the last reset, sampled every 10 ms (only while busy). */
  inFlightTrace: number[];
  /** How late the delayed answers' timers fired on average since the last reset (ms past the latency asked). */
  meanTimerLateMs: number;
}

const SAMPLE_MS = 10;
const SAMPLES_PER_SLOT = 25;

/**
 * The upstream simulator in its own process, like simulator-cli, plus an IPC channel so the bench can read
 * its peak in-flight count and call total without sharing CPU with it.
 */
async function main(): Promise<void> {
  const sim = await UpstreamSimulator.start(parseCliArgs(process.argv.slice(2)));
  // In-flight over time, so the bench can tell a slow middle from a slow start or tail.
  let trace: number[] = [];
  let sum = 0;
  let samples = 0;
  setInterval(() => {
    if (sim.busySpan === undefined) return;
    sum += sim.inFlight;
    if (++samples === SAMPLES_PER_SLOT) {
      trace.push(Math.round(sum / samples));
      sum = 0;
      samples = 0;
    }
  }, SAMPLE_MS).unref();
  process.on('message', (msg: SimRequest) => {
    const stats: SimStats = {
      type: 'stats',
      peakInFlight: sim.peakInFlight,
      totalCalls: sim.totalCalls,
      busySpan: sim.busySpan,
      inFlightTrace: trace,
      meanTimerLateMs: sim.meanTimerLateMs,
    };
    if (msg.type === 'reset') {
      sim.reset();
      trace = [];
      sum = 0;
      samples = 0;
    }
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
