import { startStack, type Stack } from './stack';
import { UpstreamSimulator, type SimulatorOptions } from './upstream-simulator';

/** The simulator and stack of a `describe` block set up by {@link simulatedStack}. */
export interface SimulatedStack {
  sim: UpstreamSimulator;
  stack: Stack;
}

/**
 * Starts an upstream simulator and a stack pointed at it before the enclosing `describe` block's tests, and closes
 * both after them. Read `sim` and `stack` from the returned object inside hooks and tests (they are set once
 * `beforeAll` has run); a test may replace `sim` (a restarted upstream) and it is the one closed.
 */
export function simulatedStack(
  simulator: SimulatorOptions = {},
  env: Record<string, string> = {},
  opts: { worker?: boolean } = {},
): SimulatedStack {
  const t = {} as SimulatedStack;
  beforeAll(async () => {
    t.sim = await UpstreamSimulator.start(simulator);
    t.stack = await startStack({ UPSTREAM_BASE_URL: t.sim.baseUrl, ...env }, opts);
  });
  afterAll(async () => {
    await t.stack?.close();
    await t.sim?.close();
  });
  return t;
}
