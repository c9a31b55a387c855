import type { LogLevel as TemporalLevel, LogMetadata, Logger as TemporalLogger } from '@temporalio/common';
import type { LoggerService } from '@nestjs/common';
import pino, { type Logger } from 'pino';
import type { AppConfig } from '../config/config';

/** One JSON logger per process (pino, as Fastify's request logs), at LOG_LEVEL. */
export function createLogger(level: AppConfig['LOG_LEVEL'], name: string): Logger {
  return pino({ name, level, base: { pid: process.pid } });
}

const BATCH_ID = /\bbatch_[A-Za-z0-9]+/;

const LEVELS: Record<TemporalLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/**
 * The Temporal SDK's log lines (worker, workflow `log`, activity `log`) as JSON through pino. A batch's workflow id
 * is its batch id, so every line from a batch's workflow or activities carries `batchId`.
 */
export class TemporalPinoLogger implements TemporalLogger {
  constructor(private readonly logger: Logger) {}

  log(level: TemporalLevel, message: string, meta: LogMetadata = {}): void {
    const fields: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(meta)) {
      if (v !== undefined && typeof k === 'string') fields[k] = v;
    }
    if (typeof fields.workflowId === 'string' && fields.workflowId.startsWith('batch_')) {
      fields.batchId = fields.workflowId;
    } else {
      // SDK lines about a batch without workflow metadata still name it in the text.
      const named = BATCH_ID.exec(message)?.[0];
      if (named) fields.batchId = named;
    }
    this.logger[LEVELS[level]](fields, message);
  }
  trace(message: string, meta?: LogMetadata): void {
    this.log('TRACE', message, meta);
  }
  debug(message: string, meta?: LogMetadata): void {
    this.log('DEBUG', message, meta);
  }
  info(message: string, meta?: LogMetadata): void {
    this.log('INFO', message, meta);
  }
  warn(message: string, meta?: LogMetadata): void {
    this.log('WARN', message, meta);
  }
  error(message: string, meta?: LogMetadata): void {
    this.log('ERROR', message, meta);
  }
}

const NEST_INTERNALS = new Set([
  'NestFactory',
  'InstanceLoader',
  'RoutesResolver',
  'RouterExplorer',
  'NestApplication',
]);

/**
 * Nest's logger on pino, so the API's own lines are JSON like its request logs. `logger.error({ batchId, err },
 * 'message')` logs the object's fields; Nest's trailing context argument becomes `context`.
 */
export class NestPinoLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}

  private write(level: 'trace' | 'debug' | 'info' | 'warn' | 'error', message: unknown, params: unknown[]): void {
    const context = typeof params[params.length - 1] === 'string' ? (params.pop() as string) : undefined;
    if (message !== null && typeof message === 'object' && !(message instanceof Error)) {
      const text = typeof params[0] === 'string' ? params[0] : undefined;
      this.logger[level]({ ...(message as object), context }, text);
    } else if (message instanceof Error) {
      this.logger[level]({ err: message, context }, message.message);
    } else {
      this.logger[level]({ context }, String(message));
    }
  }
  log(message: unknown, ...params: unknown[]): void {
    // Nest's own start-up chatter (modules loaded, routes mapped) is debug detail.
    const context = params[params.length - 1];
    this.write(typeof context === 'string' && NEST_INTERNALS.has(context) ? 'debug' : 'info', message, params);
  }
  error(message: unknown, ...params: unknown[]): void {
    this.write('error', message, params);
  }
  warn(message: unknown, ...params: unknown[]): void {
    this.write('warn', message, params);
  }
  debug(message: unknown, ...params: unknown[]): void {
    this.write('debug', message, params);
  }
  verbose(message: unknown, ...params: unknown[]): void {
    this.write('trace', message, params);
  }
}
