import { Module } from '@nestjs/common';
import { ResultsController } from './results.controller';
import { ResultsService } from './results.service';

/** Results while running (an extension): a batch's committed result lines, page by page with a cursor. */
@Module({ controllers: [ResultsController], providers: [ResultsService] })
export class ResultsModule {}
