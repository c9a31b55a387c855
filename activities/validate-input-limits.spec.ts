import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { loadConfig } from '../src/config/config';
import { testBatchRow } from '../test/support/batch-rows';
import { openStorage, type Storage } from '../src/storage/storage';
import { activityDeps } from '../src/worker/activity-deps';
import type { ActivityDeps } from './deps';
import { makeValidateInput } from './validate-input';

const quiet = new DefaultLogger('ERROR');
const LIMIT_ERROR = {
  code: 'batch_limit_exceeded',
  message: 'Active batch limit reached for team-a: 1 of 1 batches active.',
  param: null,
  line: null,
};

describe("validateInput and its owner's limits", () => {
  let dir: string;
  let storage: Storage;
  let deps: ActivityDeps;
  const validate = (batchId: string) =>
    new MockActivityEnvironment({}, { logger: quiet }).run(makeValidateInput(deps), { batchId });
  const insert = (id: string) =>
    storage.batches.insert(testBatchRow(id, { owner: 'team-a', input_file_id: 'file-in', expires_at: 4_000_000_000 }));

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'validate-limits-'));
    const tenants = join(dir, 'tenants.yaml');
    writeFileSync(tenants, 'tenants:\n  team-a: { max_active_batches: 1 }\n');
    const config = loadConfig({ DATA_DIR: dir, UPSTREAM_BASE_URL: 'http://127.0.0.1:9/v1', TENANTS_FILE: tenants });
    storage = await openStorage(config);
    deps = activityDeps(config, storage);
    const line = { custom_id: 'c', method: 'POST', url: '/v1/chat/completions', body: { model: 'm', prompt: 'abcd' } };
    await deps.blobs.write('files/file-in', Readable.from([Buffer.from(JSON.stringify(line) + '\n')]));
    await storage.files.insert({
      id: 'file-in',
      owner: 'team-a',
      purpose: 'batch',
      filename: 'in.jsonl',
      bytes: 1,
      created_at: 1,
      expires_at: null,
      blob_key: 'files/file-in',
    });
  });
  afterAll(async () => {
    await deps.router.close();
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('admits within the limit, refuses past it, and gives the same outcome when run again', async () => {
    await insert('b1');
    expect(await validate('b1')).toMatchObject({ ok: true, total: 1 });
    expect(await storage.batches.getById('b1')).toMatchObject({ admitted_requests: 1, estimated_tokens: 1 });
    await insert('b2');
    expect(await validate('b2')).toMatchObject({ ok: false });
    expect(JSON.parse((await storage.batches.getById('b2'))!.errors!)).toEqual({ object: 'list', data: [LIMIT_ERROR] });

    // The outcomes commit (the workflow moves each on), then each validation runs again: b1 counts against b2's
    // room and b2 against b1's no more or less than before.
    await storage.batches.transition('b1', ['validating'], 'in_progress', { total: 1 });
    await storage.batches.transition('b2', ['validating'], 'failed');
    expect(await validate('b1')).toMatchObject({ ok: true });
    expect(await validate('b2')).toMatchObject({ ok: false });
    // Even with room again (b1 ended), a refused batch stays refused, with the errors it was refused with.
    await storage.batches.transition('b1', ['in_progress'], 'completed');
    expect(await validate('b2')).toMatchObject({ ok: false });
    expect(JSON.parse((await storage.batches.getById('b2'))!.errors!).data).toEqual([LIMIT_ERROR]);
  });
});
