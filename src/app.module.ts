import { Module, type DynamicModule } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_PIPE } from '@nestjs/core';
import { ApiKeyGuard } from './common/api-key.guard';
import { OpenAIErrorFilter } from './common/openai-error.filter';
import { ZodValidationPipe } from './common/zod-validation.pipe';
import { APP_CONFIG, type AppConfig } from './config/config';
import { BatchesModule } from './batches/batches.module';
import { FilesModule } from './files/files.module';
import { HealthController } from './health/health.controller';
import { MetricsController } from './metrics/metrics.controller';
import { OpenApiController } from './openapi/openapi.controller';
import { ResultsModule } from './results/results.module';
import { STORAGE, StorageModule } from './storage/storage.module';
import type { Storage } from './storage/storage';
import { TemporalModule } from './temporal/temporal.module';

/** The API application; `storage` may be handed in (tests, the embedded start) instead of opened here. */
@Module({})
export class AppModule {
  static forRoot(config: AppConfig, storage?: Storage): DynamicModule {
    const configModule: DynamicModule = {
      module: class ConfigModule {},
      global: true,
      providers: [{ provide: APP_CONFIG, useValue: config }],
      exports: [APP_CONFIG],
    };
    const storageModule: DynamicModule = storage
      ? {
          module: class SharedStorageModule {},
          global: true,
          providers: [{ provide: STORAGE, useValue: storage }],
          exports: [STORAGE],
        }
      : { module: StorageModule };
    return {
      module: AppModule,
      imports: [configModule, storageModule, TemporalModule, FilesModule, BatchesModule, ResultsModule],
      controllers: [HealthController, MetricsController, OpenApiController],
      providers: [
        { provide: APP_GUARD, useClass: ApiKeyGuard },
        { provide: APP_FILTER, useClass: OpenAIErrorFilter },
        { provide: APP_PIPE, useClass: ZodValidationPipe },
      ],
    };
  }
}
