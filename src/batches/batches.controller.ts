import { Body, Controller, Get, Headers, HttpCode, Param, Post, Query } from '@nestjs/common';
import { Owner } from '../common/owner.decorator';
import { CreateBatchBody, ListBatchesQuery, RerunBatchBody } from './batches.schemas';
import { BatchesService } from './batches.service';
import { RerunService } from './rerun.service';

/** The Batches API (docs/api.md, Batches). */
@Controller('v1/batches')
export class BatchesController {
  constructor(
    private readonly batches: BatchesService,
    private readonly reruns: RerunService,
  ) {}

  /** Create a batch from an uploaded input file. */
  @Post()
  @HttpCode(200)
  create(@Owner() owner: string, @Body() body: CreateBatchBody, @Headers('idempotency-key') idempotencyKey?: string) {
    return this.batches.create(owner, body, idempotencyKey || undefined);
  }

  /** List the caller's batches, newest first. */
  @Get()
  list(@Owner() owner: string, @Query() query: ListBatchesQuery) {
    return this.batches.list(owner, query);
  }

  // Retrieve (GET /v1/batches/:id) is registered on Fastify directly: see batch-read.route.ts.

  /** Cancel a batch; finished results are kept. */
  @Post(':id/cancel')
  @HttpCode(200)
  cancel(@Owner() owner: string, @Param('id') id: string) {
    return this.batches.cancel(owner, id);
  }

  /** Extension: a new batch of the lines of an ended batch that failed (or never ran), byte for byte. */
  @Post(':id/rerun')
  @HttpCode(200)
  rerun(@Owner() owner: string, @Param('id') id: string, @Body() body: RerunBatchBody) {
    return this.reruns.rerun(owner, id, body);
  }
}
