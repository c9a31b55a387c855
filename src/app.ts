import 'reflect-metadata';
import multipart from '@fastify/multipart';
import rateLimit from '@fastify/rate-limit';
import type { FastifyRequest } from 'fastify';
import { createHash } from 'node:crypto';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { AppModule } from './app.module';
import { registerBatchRead } from './batches/batch-read.route';
import { BatchesService } from './batches/batches.service';
import { ApiKeys } from './common/api-keys';
import { newRequestId } from './common/ids';
import { NestPinoLogger, createLogger } from './logging/logger';
import { recordRoutes } from './openapi/registered-routes';
import type { AppConfig } from './config/config';
import type { Storage } from './storage/storage';
import { loadTenants } from './tenants/tenants-file';

/** Probes and scrapers are never rate limited. */
const OPEN_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

/** A batch id in a request path (/v1/batches/batch_...). */
const BATCH_IN_PATH = /^\/v1\/batches\/(batch_[A-Za-z0-9_-]{1,100})/;

/** Fastify's child-logger factory: a request about a batch logs its id on every line, from "incoming request" on. */
function batchRequestLogger(
  logger: { child(bindings: object, opts: object): unknown },
  bindings: object,
  opts: object,
  rawReq: { url?: string },
): unknown {
  const batchId = BATCH_IN_PATH.exec(rawReq.url ?? '')?.[1];
  return logger.child(batchId ? { ...bindings, batchId } : bindings, opts);
}

/** JSON bodies past this size are refused before parsing (batch create and cancel bodies are small). */
const JSON_BODY_LIMIT = 1024 * 1024;

/** Builds the API on Fastify: request ids, multipart. Nest routes Fastify's own errors through OpenAIErrorFilter. */
export async function createApp(config: AppConfig, storage?: Storage): Promise<NestFastifyApplication> {
  // The workers apply the tenants file; the API reads it too, so a bad file stops either from starting.
  loadTenants(config.TENANTS_FILE);
  const adapter = new FastifyAdapter({
    logger: config.LOG_LEVEL === 'silent' ? false : { level: config.LOG_LEVEL },
    genReqId: () => newRequestId(),
    childLoggerFactory: batchRequestLogger as never,
    bodyLimit: JSON_BODY_LIMIT,
    // Multipart uploads are long streams; the default 30 s request timeout must not cut a 200 MB upload.
    requestTimeout: 0,
  });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config, storage), adapter, {
    logger: config.LOG_LEVEL === 'silent' ? false : new NestPinoLogger(createLogger(config.LOG_LEVEL, 'api')),
  });
  const fastify = app.getHttpAdapter().getInstance();
  recordRoutes(fastify);
  fastify.addHook('onRequest', async (req, reply) => {
    void reply.header('x-request-id', req.id);
  });
  await app.register(multipart as never);
  await app.register(rateLimit as never, {
    max: config.API_RATE_LIMIT_PER_MINUTE,
    timeWindow: 60_000,
    // Per API key (hashed; the key itself is never kept), else per client address.
    keyGenerator: (req: FastifyRequest) => {
      const auth = req.headers.authorization;
      return auth ? createHash('sha256').update(auth).digest('hex') : req.ip;
    },
    allowList: (req: FastifyRequest) => OPEN_PATHS.has(req.url.split('?')[0]),
    errorResponseBuilder: (_req: FastifyRequest, ctx: { after: string }) =>
      Object.assign(new Error(`Rate limit reached for this API key; retry after ${ctx.after}.`), { statusCode: 429 }),
  });
  await app.init();
  registerBatchRead(app, app.get(BatchesService), new ApiKeys(config.API_KEYS));
  return app;
}
