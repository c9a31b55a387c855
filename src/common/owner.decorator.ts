import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';

/** The tenant the request's API key belongs to (set by ApiKeyGuard). */
export const Owner = createParamDecorator((_: unknown, ctx: ExecutionContext): string => {
  const req = ctx.switchToHttp().getRequest<FastifyRequest & { owner?: string }>();
  if (!req.owner) throw new Error('Owner requested on a route without ApiKeyGuard');
  return req.owner;
});
