import 'reflect-metadata';
import multipart from '@fastify/multipart';
import rateLimit from '@fastify/rate-limit';
import type { FastifyRequest } from 'fastify';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { AppModule } from './app.module';
import { registerBatchRead } from './batches/batch-read.route';
import { BatchesService } from './batches/batches.service';
import { ApiKeys, HeaderDigests } from './common/api-keys';
import { newRequestId } from './common/ids';
import { pathOf } from './common/url-path';
import { NestPinoLogger, createLogger } from './logging/logger';
import { requestLogger } from './logging/request-logger';
import { recordRoutes } from './openapi/registered-routes';
import type { AppConfig } from './config/config';
import type { Storage } from './storage/storage';
import { loadTenants } from './tenants/tenants-file';

/** Probes and scrapers are never rate limited. */
const OPEN_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

/** JSON bodies past this size are refused before parsing (batch create and cancel bodies are small). */
const JSON_BODY_LIMIT = 1024 * 1024;

/** Builds the API on Fastify: request ids, multipart. Nest routes Fastify's own errors through OpenAIErrorFilter. */
export async function createApp(config: AppConfig, storage?: Storage): Promise<NestFastifyApplication> {
  // The workers apply the tenants file; the API reads it too, so a bad file stops either from starting.
  loadTenants(config.TENANTS_FILE);
  const adapter = new FastifyAdapter({
    logger: config.LOG_LEVEL === 'silent' ? false : { level: config.LOG_LEVEL },
    genReqId: () => newRequestId(),
    childLoggerFactory: requestLogger as never,
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
  const digests = new HeaderDigests();
  await app.register(rateLimit as never, {
    max: config.API_RATE_LIMIT_PER_MINUTE,
    timeWindow: 60_000,
    // Per API key (its digest: the limiter's store never holds the key itself), else per client address.
    keyGenerator: (req: FastifyRequest) => {
      const auth = req.headers.authorization;
      return auth ? digests.of(auth) : req.ip;
    },
    allowList: (req: FastifyRequest) => OPEN_PATHS.has(pathOf(req.url)),
    errorResponseBuilder: (_req: FastifyRequest, ctx: { after: string }) =>
      Object.assign(new Error(`Rate limit reached for this API key; retry after ${ctx.after}.`), { statusCode: 429 }),
  });
  await app.init();
  registerBatchRead(app, app.get(BatchesService), new ApiKeys(config.API_KEYS));
  return app;
}
