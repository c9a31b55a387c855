import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { ApiKeys } from '../common/api-keys';
import type { BatchObject } from '../batch-format/batch-object';
import type { BatchesService } from './batches.service';

/**
 * `GET /v1/batches/:id`, the route clients poll, registered on Fastify itself rather than through a Nest
 * controller: Nest's per-request pipeline (route context, guards, pipes, interceptors) cost more than the read.
 * Everything else is the same: Fastify's hooks (request id, rate limit) run first, the key check is the guard's,
 * and errors reach the OpenAI error filter through the error handler Nest installs.
 */
export function registerBatchRead(app: NestFastifyApplication, batches: BatchesService, keys: ApiKeys): void {
  // A finished batch is the same frozen object on every read (BatchesService keeps it), so its JSON is made once.
  const json = new WeakMap<BatchObject, string>();
  app
    .getHttpAdapter()
    .getInstance()
    .get<{ Params: { id: string } }>('/v1/batches/:id', async (req, reply) => {
      const batch = await batches.retrieve(keys.ownerOf(req.headers.authorization), req.params.id);
      let body = json.get(batch);
      if (body === undefined) {
        body = JSON.stringify(batch);
        if (Object.isFrozen(batch)) json.set(batch, body);
      }
      return reply.type('application/json; charset=utf-8').send(body);
    });
}
