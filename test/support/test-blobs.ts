import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { AppConfig } from '../../src/config/config';

/** Starts whatever blob server the run needs (none for the filesystem store); returns its stop function. */
export async function startTestBlobServer(): Promise<(() => Promise<void>) | undefined> {
  return undefined;
}

/** Extra env for a new stack's blob store. Default: the filesystem store under the stack's DATA_DIR. */
export async function testBlobEnv(): Promise<Record<string, string>> {
  return {};
}

/** Keys of the blobs under `files/` plus any temporary uploads, for "nothing left behind" checks. */
export async function listFileBlobs(config: AppConfig): Promise<string[]> {
  const root = join(config.DATA_DIR, 'blobs');
  const list = (dir: string): string[] =>
    existsSync(join(root, dir)) ? readdirSync(join(root, dir)).map((f) => `${dir}/${f}`) : [];
  return [...list('files'), ...list('tmp')];
}
