import type { Bindings, ChildLoggerOptions, Level, LevelWithSilentOrString, LogFn, Logger } from 'pino';

/** A batch id in a request path (/v1/batches/batch_...). */
const BATCH_IN_PATH = /^\/v1\/batches\/(batch_[A-Za-z0-9_-]{1,100})/;

/**
 * A request's logger, made when the request first logs at an enabled level. Fastify gives every request a child
 * logger bound to its request id; a pino child serializes its bindings when it is made, which cost about a tenth of
 * the API's CPU on `GET /v1/batches/{id}` at LOG_LEVEL=warn, where a request that goes well logs nothing. Lines keep
 * the same fields: the request id and, for a request about a batch, its batch id, from "incoming request" on.
 */
export class RequestLogger {
  private made: Logger | undefined;

  constructor(
    private readonly parent: Logger,
    private readonly fields: Bindings,
    private readonly opts: ChildLoggerOptions,
    private readonly url: string,
  ) {}

  /** The child logger, made on first use. */
  private get logger(): Logger {
    if (!this.made) {
      const batchId = BATCH_IN_PATH.exec(this.url)?.[1];
      this.made = this.parent.child(batchId ? { ...this.fields, batchId } : this.fields, this.opts);
    }
    return this.made;
  }

  /** Whether a line at `level` would be written (asked of the parent until the child exists). */
  isLevelEnabled(level: LevelWithSilentOrString): boolean {
    return (this.made ?? this.parent).isLevelEnabled(level);
  }

  get level(): LevelWithSilentOrString {
    return (this.made ?? this.parent).level;
  }

  set level(level: LevelWithSilentOrString) {
    this.logger.level = level;
  }

  private write(level: Level, args: Parameters<LogFn>): void {
    if (this.isLevelEnabled(level)) (this.logger[level] as (...a: unknown[]) => void)(...args);
  }

  fatal(...args: Parameters<LogFn>): void {
    this.write('fatal', args);
  }
  error(...args: Parameters<LogFn>): void {
    this.write('error', args);
  }
  warn(...args: Parameters<LogFn>): void {
    this.write('warn', args);
  }
  info(...args: Parameters<LogFn>): void {
    this.write('info', args);
  }
  debug(...args: Parameters<LogFn>): void {
    this.write('debug', args);
  }
  trace(...args: Parameters<LogFn>): void {
    this.write('trace', args);
  }
  silent(): void {}

  child(fields: Bindings, opts?: ChildLoggerOptions): Logger {
    return this.logger.child(fields, opts);
  }

  bindings(): Bindings {
    return this.logger.bindings();
  }
}

/**
 * Fastify's child-logger factory: each request's logger is a {@link RequestLogger}. With logging off
 * (LOG_LEVEL=silent) Fastify's logger is a no-op one, not pino, and its own child is returned.
 */
export function requestLogger(
  parent: Logger,
  fields: Bindings,
  opts: ChildLoggerOptions,
  rawReq: { url?: string },
): RequestLogger | Logger {
  if (typeof parent.isLevelEnabled !== 'function') return parent.child(fields, opts);
  return new RequestLogger(parent, fields, opts, rawReq.url ?? '');
}
