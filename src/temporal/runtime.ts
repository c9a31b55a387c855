import { IllegalStateError } from '@temporalio/common';
import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';
import type { AppConfig } from '../config/config';
import { TemporalPinoLogger, createLogger } from '../logging/logger';

let runtimeInstalled = false;

/**
 * Installs the Temporal SDK's runtime for this process once (it cannot change after the first native connection or
 * worker): its log lines, such as the core's retries and a worker's state, go as JSON through pino at LOG_LEVEL, named
 * after the process (`worker`, `api`). A worker runs on it, and so does the API's client connection.
 */
export function installTemporalRuntime(level: AppConfig['LOG_LEVEL'], name: 'worker' | 'api'): void {
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
      level === 'silent' ? new DefaultLogger(map[level]) : new TemporalPinoLogger(createLogger(level, name));
    Runtime.install({ logger });
  } catch (err) {
    // Another module instance in this process (a test file) installed it first: that runtime stays.
    if (!(err instanceof IllegalStateError)) throw err;
  }
}
