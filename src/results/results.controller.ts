import { Controller, Get, Param, Query, Res, StreamableFile } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { Owner } from '../common/owner.decorator';
import { ResultsQuery } from './results.schemas';
import { ResultsService } from './results.service';

/** Extension: a batch's result lines while it runs (docs/api.md, Results while running). */
@Controller('v1/batches')
export class ResultsController {
  constructor(private readonly results: ResultsService) {}

  /**
   * The result lines committed so far (JSONL, as in the output and error files), past `after`. `x-next-cursor` asks
   * for the lines after these; `x-batch-complete: true` once the batch has ended and every line has been served.
   */
  @Get(':id/results')
  async list(
    @Owner() owner: string,
    @Param('id') id: string,
    @Query() query: ResultsQuery,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    const page = await this.results.page(owner, id, query.after);
    void reply.header('x-next-cursor', page.nextCursor).header('x-batch-complete', String(page.complete));
    return new StreamableFile(page.lines, { type: 'application/jsonl' });
  }
}
