import { Controller, Get, Inject } from '@nestjs/common';
import type { Client } from '@temporalio/client';
import { sql } from 'kysely';
import { ServiceUnavailableError } from '../common/errors';
import { Public } from '../common/public.decorator';
import { STORAGE } from '../storage/storage.module';
import type { Storage } from '../storage/storage';
import { TEMPORAL_CLIENT } from '../temporal/temporal.module';

/** Liveness and readiness, open to probes without a key. */
@Public()
@Controller()
export class HealthController {
  constructor(
    @Inject(STORAGE) private readonly storage: Storage,
    @Inject(TEMPORAL_CLIENT) private readonly temporal: Client,
  ) {}

  /** The process is up. */
  @Get('healthz')
  healthz() {
    return { status: 'ok' };
  }

  /** The metadata store, the blob store and Temporal answer. */
  @Get('readyz')
  async readyz() {
    const checks = await Promise.allSettled([
      sql`select 1`.execute(this.storage.db.kysely),
      this.storage.blobs.check(),
      this.temporal.connection.workflowService.getSystemInfo({}),
    ]);
    const [store, blobs, temporal] = checks.map((c) => (c.status === 'fulfilled' ? 'ok' : 'unavailable'));
    if (store !== 'ok' || blobs !== 'ok' || temporal !== 'ok') {
      throw new ServiceUnavailableError(`Not ready: store ${store}, blobs ${blobs}, temporal ${temporal}.`);
    }
    return { status: 'ok', store, blobs, temporal };
  }
}
