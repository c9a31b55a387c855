import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import OpenAI from 'openai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp } from '../../src/app';
import { loadConfig, type AppConfig } from '../../src/config/config';
import { openStorage, type Storage } from '../../src/storage/storage';
import { startBatchWorker, type BatchWorker } from '../../src/worker/batch-worker';
import { testBlobEnv } from './test-blobs';
import { dropTestDatabase, testDatabaseEnv } from './test-database';

/** A running API on a random port with its own data dir, against the run's Temporal dev server. */
export interface Stack {
  config: AppConfig;
  storage: Storage;
  app: NestFastifyApplication;
  baseURL: string;
  worker?: BatchWorker;
  /** Starts a worker for this stack (again, after stopWorker). */
  startWorker(): Promise<BatchWorker>;
  stopWorker(): Promise<void>;
  /** The official OpenAI client pointed at the stack. */
  client(apiKey?: string): OpenAI;
  close(): Promise<void>;
}

/** Starts the API (and, unless `worker: false`, a worker) with test defaults plus `env` overrides. */
export async function startStack(env: Record<string, string> = {}, opts: { worker?: boolean } = {}): Promise<Stack> {
  const dataDir = mkdtempSync(join(tmpdir(), 'batch-api-'));
  const config = loadConfig({
    DATA_DIR: dataDir,
    TEMPORAL_ADDRESS: process.env.TEMPORAL_TEST_ADDRESS,
    TEMPORAL_TASK_QUEUE: `test-${Math.random().toString(36).slice(2)}`,
    LOG_LEVEL: 'silent',
    API_RATE_LIMIT_PER_MINUTE: '1000000',
    // Tests poll for states and counts as they change: every read goes to the store (the shared read of running
    // batches is covered by its own spec and by the bench).
    LIVE_READ_MAX_AGE_MS: '0',
    ...(await testDatabaseEnv()),
    ...(await testBlobEnv()),
    ...env,
  });
  const storage = await openStorage(config);
  const app = await createApp(config, storage);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.getHttpServer().address() as { port: number };
  const baseURL = `http://127.0.0.1:${port}/v1`;
  const stack: Stack = {
    config,
    storage,
    app,
    baseURL,
    async startWorker() {
      const bundle = process.env.TEMPORAL_TEST_WORKFLOW_BUNDLE;
      stack.worker = await startBatchWorker(
        config,
        storage,
        bundle ? { workflowBundle: { codePath: bundle } } : undefined,
      );
      return stack.worker;
    },
    async stopWorker() {
      await stack.worker?.shutdown();
      stack.worker = undefined;
    },
    client: (apiKey = 'test-key') => new OpenAI({ baseURL, apiKey, maxRetries: 0 }),
    async close() {
      await stack.stopWorker();
      await app.close();
      await storage.close();
      await dropTestDatabase(config.DATABASE_URL);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  if (opts.worker !== false) await stack.startWorker();
  return stack;
}
