import { parseArgs } from 'node:util';
import { UpstreamSimulator } from './upstream-simulator';
import type { SimulatorOptions } from './upstream-simulator';

const USAGE = 'usage: simulator-cli [--port N] [--latency-ms N] [--host H]';

/** Parses `--port N --latency-ms N --host H` (or `--flag=value`) into simulator options; throws on bad input. */
export function parseCliArgs(argv: string[]): SimulatorOptions {
  const { values } = parseArgs({
    args: argv,
    options: { port: { type: 'string' }, 'latency-ms': { type: 'string' }, host: { type: 'string' } },
    strict: true,
    allowPositionals: false,
  });
  const opts: SimulatorOptions = {};
  if (values.host !== undefined) opts.host = values.host;
  if (values.port !== undefined) opts.port = toNonNegativeInt(values.port, '--port');
  if (values['latency-ms'] !== undefined) opts.latencyMs = toNonNegativeInt(values['latency-ms'], '--latency-ms');
  return opts;
}

function toNonNegativeInt(text: string, flag: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${flag} expects a non-negative integer, got "${text}"`);
  return value;
}

async function main(): Promise<void> {
  let opts: SimulatorOptions;
  try {
    opts = parseCliArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    process.exit(2);
  }
  const sim = await UpstreamSimulator.start(opts);
  // The base URL is the only stdout line, so a parent process can read it to find the port.
  process.stdout.write(`${sim.baseUrl}\n`);
  const stop = (): void => {
    sim.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
