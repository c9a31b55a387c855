import { Global, Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { openStorage, type Storage } from './storage';

/** Nest injection token for the opened Storage. */
export const STORAGE = Symbol('STORAGE');

/** Opens storage once for the app and closes it on shutdown. */
@Global()
@Module({
  providers: [{ provide: STORAGE, inject: [APP_CONFIG], useFactory: (config: AppConfig) => openStorage(config) }],
  exports: [STORAGE],
})
export class StorageModule implements OnApplicationShutdown {
  constructor(@Inject(STORAGE) private readonly storage: Storage) {}

  async onApplicationShutdown(): Promise<void> {
    await this.storage.close();
  }
}
