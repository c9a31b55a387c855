import { IllegalStateError } from '@temporalio/common';
import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';
import { setFlagsFromString } from 'node:v8';
import type { AppConfig } from '../config/config';
import { TemporalPinoLogger, createLogger } from '../logging/logger';

/**
 * Caps how far the heap may grow past its live set before V8 collects it. A busy worker allocates fast (a parsed
 * request, its body text, the answer) but keeps little; left to itself V8 grows the heap to several times the
 * live set, which showed as 370-450 MB of resident memory under load where 30% growth keeps it under 300 MB.
 * V8 reads this flag at every full collection, so setting it now takes effect.
 */
export function limitHeapGrowth(percent: number): void {
  if (percent > 0) setFlagsFromString(`--heap-growing-percent=${percent}`);
}

let runtimeInstalled = false;

/** Sets the Temporal SDK's log level once per process (it cannot change after the first worker). */
export function installTemporalRuntime(level: AppConfig['LOG_LEVEL']): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  const map: Record<AppConfig['LOG_LEVEL'], LogLevel> = {
    fatal: 'ERROR',
    error: 'ERROR',
    warn: 'WARN',
    info: 'INFO',
    debug: 'DEBUG',
    trace: 'TRACE',
    silent: 'ERROR',
  };
  try {
    const logger =
      level === 'silent' ? new DefaultLogger(map[level]) : new TemporalPinoLogger(createLogger(level, 'worker'));
    Runtime.install({ logger });
  } catch (err) {
    // Another module instance in this process (a test file) installed it first: that runtime stays.
    if (!(err instanceof IllegalStateError)) throw err;
  }
}
