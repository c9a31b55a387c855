import { Global, Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import { Client } from '@temporalio/client';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { connectNative } from './connection';
import { installTemporalRuntime } from './runtime';

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
        // The native connection (the SDK's core, as the workers use). The gRPC one runs every call inside an
        // AsyncLocalStorage (for its namespace header), which on Node 20 turns on promise hooks for the whole process:
        // about 14% of the API's CPU on `GET /v1/batches/{id}`. A call to a Temporal that is down fails after about
        // 6 s of the core's retries instead of 20.
        installTemporalRuntime(config.LOG_LEVEL, 'api');
        const connection = await connectNative(config);
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
