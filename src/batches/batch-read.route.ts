import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { ApiKeys } from '../common/api-keys';
import type { BatchesService } from './batches.service';

/**
 * `GET /v1/batches/:id`, the route clients poll, registered on Fastify itself rather than through a Nest
 * controller: Nest's per-request pipeline (route context, guards, pipes, interceptors) cost more than the read.
 * Everything else is the same: Fastify's hooks (request id, rate limit) run first, the key check is the guard's,
 * and errors reach the OpenAI error filter through the error handler Nest installs.
 */
export function registerBatchRead(app: NestFastifyApplication, batches: BatchesService, keys: ApiKeys): void {
  app
    .getHttpAdapter()
    .getInstance()
    .get<{ Params: { id: string } }>('/v1/batches/:id', (req) =>
      batches.retrieve(keys.ownerOf(req.headers.authorization), req.params.id),
    );
}
