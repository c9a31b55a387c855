import type { AppConfig } from '../../src/config/config';
import { envFor, spawnEntry, type EntryProcess } from './worker-process';

/** An API in its own process (`npm run start:api`'s entry), so a test can SIGKILL it. */
export interface ApiProcess extends EntryProcess {
  baseURL: string;
}

/** Starts `node dist/src/start-api.js` with `config` (plus `env`) on `port` and waits until it listens. */
export async function spawnApi(config: AppConfig, port: number, env: Record<string, string> = {}): Promise<ApiProcess> {
  const api = await spawnEntry(
    'start-api',
    { ...envFor(config), PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', ...env },
    'API listening',
  );
  return { ...api, baseURL: `http://127.0.0.1:${port}/v1` };
}
