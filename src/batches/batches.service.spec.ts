import type { Client } from '@temporalio/client';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { emptyUsage } from '../batch-format/usage';
import { loadConfig } from '../config/config';
import { testBatchRow as batchRow } from '../../test/support/batch-rows';
import type { BatchRow } from '../storage/batch.store';
import { openStorage, type Storage } from '../storage/storage';
import { BatchesService } from './batches.service';

describe('BatchesService reads of a batch that finalize ends meanwhile', () => {
  let dir: string;
  let storage: Storage;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'batches-service-'));
    storage = await openStorage(loadConfig({ DATA_DIR: dir }));
  });
  afterAll(async () => {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('never shows 0/0: a row read as finalizing whose chunk rows finalize has just cleared is read again', async () => {
    const row = batchRow('batch_race');
    await storage.batches.insert({ ...row, status: 'completed', total: 10, completed: 7, failed: 3 });
    // The API read the row just before finalize moved the final counts onto it and cleared the chunk rows.
    const stale = { ...(await storage.batches.getById('batch_race'))!, status: 'finalizing', completed: 0, failed: 0 };
    const batches = Object.create(storage.batches) as typeof storage.batches;
    batches.get = async (): Promise<BatchRow> => stale;
    const service = new BatchesService({ ...storage, batches }, {} as Client, loadConfig({ DATA_DIR: dir }));
    const object = await service.retrieve('o', 'batch_race');
    expect(object.status).toBe('completed');
    expect(object.request_counts).toEqual({ total: 10, completed: 7, failed: 3 });
  });

  it('reads a running batch at most once per LIVE_READ_MAX_AGE_MS, shared by the reads meanwhile; a cancel is seen at once', async () => {
    const row = batchRow('batch_live');
    await storage.batches.insert({ ...row, status: 'in_progress', total: 10 });
    let reads = 0;
    const batches = Object.create(storage.batches) as typeof storage.batches;
    batches.get = async (owner: string, id: string) => {
      reads++;
      return storage.batches.get(owner, id);
    };
    const temporal = { workflow: { getHandle: () => ({ signal: async () => undefined }) } } as unknown as Client;
    const config = loadConfig({ DATA_DIR: dir, LIVE_READ_MAX_AGE_MS: '300' });
    const service = new BatchesService({ ...storage, batches }, temporal, config);
    const answers = await Promise.all(Array.from({ length: 50 }, () => service.retrieve('o', 'batch_live')));
    expect(reads).toBe(1);
    expect(new Set(answers.map((a) => a.status))).toEqual(new Set(['in_progress']));
    // Another owner never gets the shared read.
    await expect(service.retrieve('p', 'batch_live')).rejects.toMatchObject({ status: 404 });
    await new Promise((r) => setTimeout(r, 350));
    await service.retrieve('o', 'batch_live');
    expect(reads).toBe(3);
    expect((await service.cancel('o', 'batch_live')).status).toBe('cancelling');
    expect((await service.retrieve('o', 'batch_live')).status).toBe('cancelling');
  });

  it('does not share the read of a batch about to end: every request answered, or finalizing', async () => {
    const row = batchRow('batch_ending');
    // Every request has its answer (the last chunk's final checkpoint): finalize is next.
    await storage.batches.insert({ ...row, status: 'in_progress', total: 4 });
    await storage.batches.claimChunk('batch_ending', 0, async () => ({
      completed: 3,
      failed: 1,
      usage: emptyUsage(),
      state: '{}',
    }));
    const service = new BatchesService(
      storage,
      {} as Client,
      loadConfig({ DATA_DIR: dir, LIVE_READ_MAX_AGE_MS: '60000' }),
    );
    expect((await service.retrieve('o', 'batch_ending')).request_counts).toEqual({ total: 4, completed: 3, failed: 1 });
    // The end shows at the next read, not a read-sharing period later.
    await storage.batches.transition('batch_ending', ['in_progress'], 'finalizing', {});
    expect((await service.retrieve('o', 'batch_ending')).status).toBe('finalizing');
    await storage.batches.transition('batch_ending', ['finalizing'], 'completed', { completed: 3, failed: 1 });
    expect((await service.retrieve('o', 'batch_ending')).status).toBe('completed');
  });
});
