import { Global, Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import { Client } from '@temporalio/client';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { connectClient } from './connection';

/** Nest injection token for the Temporal Client. */
export const TEMPORAL_CLIENT = Symbol('TEMPORAL_CLIENT');

/** Connects to Temporal (TEMPORAL_ADDRESS) once and closes the connection on shutdown. */
@Global()
@Module({
  providers: [
    {
      provide: TEMPORAL_CLIENT,
      inject: [APP_CONFIG],
      useFactory: async (config: AppConfig) => {
        if (!config.TEMPORAL_ADDRESS) throw new Error('TEMPORAL_ADDRESS is not set and no embedded server was started');
        const connection = await connectClient(config);
        return new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
      },
    },
  ],
  exports: [TEMPORAL_CLIENT],
})
export class TemporalModule implements OnApplicationShutdown {
  constructor(@Inject(TEMPORAL_CLIENT) private readonly client: Client) {}

  async onApplicationShutdown(): Promise<void> {
    await this.client.connection.close();
  }
}
