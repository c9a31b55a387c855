import Fastify, { type FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { Writable } from 'node:stream';
import { requestLogger } from './request-logger';

/** A Fastify app logging JSON lines into `lines` through the request logger, with a route that logs at `logAt`. */
async function appAt(level: string, lines: Record<string, unknown>[]): Promise<{ app: FastifyInstance; root: Logger }> {
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n'))
        if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const root = pino({ level }, sink);
  const app = Fastify({ loggerInstance: root, childLoggerFactory: requestLogger as never, genReqId: () => 'req_1' });
  app.get<{ Params: { id: string }; Querystring: { logAt?: string } }>('/v1/batches/:id', async (req) => {
    const at = req.query.logAt as 'warn' | 'info' | undefined;
    if (at) req.log[at]({ extra: 1 }, 'route line');
    return { id: req.params.id };
  });
  await app.ready();
  return { app: app as unknown as FastifyInstance, root };
}

describe('request logger', () => {
  it('at warn, a request that logs nothing makes no child logger and writes nothing', async () => {
    const lines: Record<string, unknown>[] = [];
    const { app, root } = await appAt('warn', lines);
    const child = jest.spyOn(root, 'child');
    const res = await app.inject({ method: 'GET', url: '/v1/batches/batch_abc?logAt=info' });
    expect(res.statusCode).toBe(200);
    expect(child).not.toHaveBeenCalled();
    expect(lines).toEqual([]);
    await app.close();
  });

  it('a line at an enabled level carries the request id and the batch id', async () => {
    const lines: Record<string, unknown>[] = [];
    const { app } = await appAt('warn', lines);
    await app.inject({ method: 'GET', url: '/v1/batches/batch_abc?logAt=warn' });
    expect(lines).toEqual([
      expect.objectContaining({ msg: 'route line', extra: 1, reqId: 'req_1', batchId: 'batch_abc' }),
    ]);
    await app.close();
  });

  it("at info, Fastify's own request lines carry the batch id from the first one on", async () => {
    const lines: Record<string, unknown>[] = [];
    const { app } = await appAt('info', lines);
    await app.inject({ method: 'GET', url: '/v1/batches/batch_xyz' });
    await app.inject({ method: 'GET', url: '/v1/files' });
    const about = lines.filter((l) => l.batchId === 'batch_xyz').map((l) => l.msg);
    expect(about).toEqual(['incoming request', 'request completed']);
    // A request about no batch gets no batch id.
    const other = lines.filter((l) => (l.req as { url?: string } | undefined)?.url === '/v1/files');
    expect(other).toHaveLength(1);
    expect(other[0]).not.toHaveProperty('batchId');
    await app.close();
  });

  it('answers the level questions Fastify and its plugins ask, and makes children', async () => {
    const lines: Record<string, unknown>[] = [];
    const { root } = await appAt('warn', lines);
    const log = requestLogger(root, { reqId: 'r1' }, {}, { url: '/v1/batches/batch_q' });
    expect(log.level).toBe('warn');
    expect(log.isLevelEnabled('info')).toBe(false);
    expect(log.isLevelEnabled('error')).toBe(true);
    log.child({ part: 'x' }).error('from a grandchild');
    expect(lines).toEqual([
      expect.objectContaining({ msg: 'from a grandchild', reqId: 'r1', batchId: 'batch_q', part: 'x' }),
    ]);
  });

  it("with logging off, Fastify's no-op logger serves the requests", async () => {
    const app = Fastify({ logger: false, childLoggerFactory: requestLogger as never });
    app.get('/v1/batches/:id', async (req) => {
      req.log.warn('nowhere');
      return { ok: true };
    });
    const res = await app.inject({ method: 'GET', url: '/v1/batches/batch_abc' });
    expect(res.json()).toEqual({ ok: true });
    await app.close();
  });
});
