import { HttpException } from '@nestjs/common';
import { ApiError } from './errors';
import { pathOf } from './url-path';

/** The OpenAI error body. */
export interface ErrorEnvelope {
  error: { message: string; type: string; param: string | null; code: string | null };
}

/** What the API answers for an error: status, body, and whether the SDK may retry it. */
export interface ErrorAnswer {
  status: number;
  body: ErrorEnvelope;
  retryable: boolean;
}

function typeForStatus(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

function answer(status: number, message: string, param: string | null = null, code: string | null = null): ErrorAnswer {
  return {
    status,
    body: { error: { message, type: typeForStatus(status), param, code } },
    retryable: status >= 500 || status === 429 || status === 408,
  };
}

/** Fastify's own errors (body parser, content type, limits) carry a statusCode and an FST_ code. */
interface FastifyLikeError {
  statusCode?: number;
  code?: string;
  message?: string;
}

/** Maps anything thrown on the request path to the OpenAI error envelope. Unknown errors are 500s. */
export function toErrorAnswer(err: unknown, method: string, url: string): ErrorAnswer {
  if (err instanceof ApiError) {
    return {
      status: err.status,
      body: { error: { message: err.message, type: err.type, param: err.param, code: err.code } },
      retryable: err.retryable,
    };
  }
  if (err instanceof HttpException) {
    const status = err.getStatus();
    if (status === 404) return answer(404, `Invalid URL (${method} ${pathOf(url)})`);
    if (status === 405) return answer(405, `Method not allowed (${method} ${pathOf(url)})`);
    if (status === 413) return answer(413, 'Request body is too large.');
    return answer(status, err.message);
  }
  const fe = err as FastifyLikeError;
  if (typeof fe?.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return answer(413, 'Request body is too large.');
    if (fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || fe.code === 'FST_ERR_CTP_INVALID_CONTENT_LENGTH') {
      return answer(
        400,
        `Unsupported content type; send ${url.includes('/files') ? 'multipart/form-data' : 'application/json'}.`,
      );
    }
    if (fe.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') return answer(400, 'The request body is empty; send a JSON object.');
    if (fe.code?.startsWith('FST_ERR_CTP') || fe instanceof SyntaxError) {
      return answer(400, `We could not parse the JSON body of your request. (${fe.message ?? 'invalid JSON'})`);
    }
    return answer(fe.statusCode, fe.message ?? 'Bad request');
  }
  return answer(500, 'The server had an error while processing your request.');
}
