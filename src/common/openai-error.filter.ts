import { Catch, Logger, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { toErrorAnswer } from './error-envelope';
import { RateLimitError } from './errors';

/** Answers every error with the OpenAI envelope; final answers carry x-should-retry: false. */
@Catch()
export class OpenAIErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('OpenAIErrorFilter');

  catch(err: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const req = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    const answer = toErrorAnswer(err, req.method, req.url);
    if (answer.status >= 500) this.logger.error({ err, reqId: req.id }, 'request failed');
    if (reply.sent) return;
    if (err instanceof RateLimitError) {
      // The SDKs wait Retry-After (seconds), or retry-after-ms where given, before their retry.
      void reply.header('retry-after', String(err.retryAfterSeconds));
      void reply.header('retry-after-ms', String(err.retryAfterSeconds * 1000));
    }
    // Answering before the request body was read (an upload refused midway): the unread rest would be taken for
    // the next request on this connection, so the connection ends with this answer.
    if (!req.raw.complete) void reply.header('connection', 'close');
    void reply
      .status(answer.status)
      .header('x-should-retry', answer.retryable ? 'true' : 'false')
      .send(answer.body);
  }
}
