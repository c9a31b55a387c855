import { Module } from '@nestjs/common';
import { BatchesController } from './batches.controller';
import { BatchesService } from './batches.service';

/** Batches: create, retrieve, list, cancel. */
@Module({ controllers: [BatchesController], providers: [BatchesService] })
export class BatchesModule {}
