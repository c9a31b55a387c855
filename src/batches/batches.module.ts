import { Module } from '@nestjs/common';
import { BatchesController } from './batches.controller';
import { BatchesService } from './batches.service';
import { RerunService } from './rerun.service';

/** Batches: create, retrieve, list, cancel, and rerun (an extension). */
@Module({ controllers: [BatchesController], providers: [BatchesService, RerunService] })
export class BatchesModule {}
