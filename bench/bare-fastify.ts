import Fastify from 'fastify';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

/**
 * The B5 baseline: bare Fastify answering `GET /v1/batches/:id` with a fixed object (the API's own answer for a
 * real batch, read from --body-file) so the only difference is the API's stack above Fastify.
 */
async function main(): Promise<void> {
  const { values } = parseArgs({ options: { port: { type: 'string' }, 'body-file': { type: 'string' } } });
  const body = values['body-file'] ? (JSON.parse(readFileSync(values['body-file'], 'utf8')) as object) : {};
  const app = Fastify({ logger: false });
  app.get<{ Params: { id: string } }>('/v1/batches/:id', async (req) => ({ ...body, id: req.params.id }));
  const address = await app.listen({ port: Number(values.port ?? 0), host: '127.0.0.1' });
  process.stdout.write(`listening ${address}\n`);
  const stop = (): void => {
    app.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
