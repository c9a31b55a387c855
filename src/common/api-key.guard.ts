import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { AuthenticationError } from './errors';
import { IS_PUBLIC } from './public.decorator';

/** The owner every request gets when no API_KEYS are configured. */
export const OPEN_OWNER = 'default';

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** Maps `Authorization: Bearer KEY` to its owner; keys are compared in constant time and never logged. */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  private readonly keys: { digest: Buffer; owner: string }[] | undefined;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly reflector: Reflector,
  ) {
    this.keys = config.API_KEYS && [...config.API_KEYS].map(([key, owner]) => ({ digest: digest(key), owner }));
  }

  canActivate(ctx: ExecutionContext): boolean {
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, [ctx.getHandler(), ctx.getClass()])) return true;
    const req = ctx.switchToHttp().getRequest<FastifyRequest & { owner?: string }>();
    req.owner = this.ownerOf(req.headers.authorization);
    return true;
  }

  private ownerOf(header: string | undefined): string {
    if (!this.keys) return OPEN_OWNER;
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
    if (!match) {
      throw new AuthenticationError(
        "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
      );
    }
    const given = digest(match[1]);
    let owner: string | undefined;
    // Compare against every key, without an early exit, so timing says nothing about which key was close.
    for (const key of this.keys) if (timingSafeEqual(key.digest, given)) owner = key.owner;
    if (!owner) throw new AuthenticationError('Incorrect API key provided.', null, 'invalid_api_key');
    return owner;
  }
}
