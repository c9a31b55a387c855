import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, dropTestDatabase } from '../../test/support/test-database';
import { emptyUsage, newValidatingBatch, type Progress } from './batch.store';
import type { NewFile } from './file.store';
import { openStorage, type Storage } from './storage';

const file = (id: string, owner = 'o', purpose = 'batch'): NewFile => ({
  id,
  owner,
  purpose,
  filename: `${id}.jsonl`,
  bytes: 10,
  created_at: 1,
  expires_at: null,
  blob_key: `files/${id}`,
});

const batch = (id: string, owner = 'o', idempotency_key: string | null = null) =>
  newValidatingBatch({
    id,
    owner,
    endpoint: '/v1/chat/completions',
    input_file_id: 'file-1',
    completion_window: '24h',
    created_at: 1,
    expires_at: 2,
    idempotency_key,
  });

const progress = (completed: number, failed: number, tokens: number): Progress => {
  const usage = emptyUsage();
  usage.total_tokens = tokens;
  return { completed, failed, usage };
};

/**
 * A unique-constraint failure, as both engines word it. Not `toThrow()`: better-sqlite3's native part keeps the error
 * class of the first test file that loaded it in a jest worker, so later files see a non-Error from another realm.
 */
const uniqueViolation = { message: expect.stringMatching(/unique/i) };

/** The same store behaviour on both engines; the SQLite one in a temp dir, the PostgreSQL one in a fresh database. */
describe.each(['sqlite', 'postgres'] as const)('the stores on %s', (engine) => {
  let dataDir: string;
  let url: string | undefined;
  let storage: Storage;

  beforeEach(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'stores-'));
    url = engine === 'postgres' ? await createTestDatabase() : undefined;
    storage = await openStorage({ DATA_DIR: dataDir, DATABASE_URL: url });
  });
  afterEach(async () => {
    await storage.close();
    await dropTestDatabase(url);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('keeps files per owner, pages them both ways on creation order, and deletes them', async () => {
    const { files } = storage;
    for (const id of ['f1', 'f2', 'f3', 'f4'])
      await files.insert(file(id, 'o', id === 'f3' ? 'batch_output' : 'batch'));
    await files.insert(file('other', 'p'));
    await files.insert(file('f1'), true); // a retried insert of the same id is a no-op
    await expect(files.insert(file('f1'))).rejects.toMatchObject(uniqueViolation);

    const ids = (page: { rows: { id: string }[]; hasMore: boolean }) => [page.rows.map((r) => r.id), page.hasMore];
    expect(ids(await files.list('o', { limit: 2, order: 'desc' }))).toEqual([['f4', 'f3'], true]);
    expect(ids(await files.list('o', { limit: 2, order: 'desc', after: 'f3' }))).toEqual([['f2', 'f1'], false]);
    expect(ids(await files.list('o', { limit: 10, order: 'asc', after: 'f1' }))).toEqual([['f2', 'f3', 'f4'], false]);
    expect(ids(await files.list('o', { limit: 10, order: 'asc', purpose: 'batch' }))).toEqual([
      ['f1', 'f2', 'f4'],
      false,
    ]);
    expect(ids(await files.list('o', { limit: 10, order: 'asc', after: 'other' }))).toEqual([[], false]);

    expect(await files.get('p', 'f1')).toBeUndefined();
    expect((await files.getById('other'))?.owner).toBe('p');
    expect(await files.delete('p', 'f1')).toBe(false);
    expect(await files.delete('o', 'f1')).toBe(true);
    expect(await files.get('o', 'f1')).toBeUndefined();
  });

  it('lists expired files that no unfinished batch reads, and deletes one only while it stays so', async () => {
    const { files, batches } = storage;
    const expiring = (id: string, expires_at: number | null) => ({ ...file(id), expires_at });
    for (const [id, at] of [
      ['f1', 10],
      ['f2', 20],
      ['f3', null],
      ['f4', 100],
    ] as const) {
      await files.insert(expiring(id, at));
    }
    // One expired input file per batch status: kept while the batch has not ended, free once it has.
    const statuses = [
      'validating',
      'in_progress',
      'finalizing',
      'cancelling',
      'completed',
      'failed',
      'expired',
      'cancelled',
    ];
    for (const status of statuses) {
      await files.insert(expiring(`in-${status}`, 10));
      await batches.insert({ ...batch(`b-${status}`), input_file_id: `in-${status}`, status });
    }
    const ids = (rows: { id: string }[]) => rows.map((r) => r.id);
    const free = ['f1', 'f2', 'in-completed', 'in-failed', 'in-expired', 'in-cancelled'];
    expect(ids(await files.listExpired(50, 0, 100))).toEqual(free);
    expect(ids(await files.listExpired(15, 0, 100))).toEqual([
      'f1',
      'in-completed',
      'in-failed',
      'in-expired',
      'in-cancelled',
    ]);

    const first = await files.listExpired(50, 0, 4);
    expect(ids(first)).toEqual(free.slice(0, 4));
    expect(ids(await files.listExpired(50, first[3].seq, 4))).toEqual(free.slice(4));

    expect(await files.deleteExpired('f4', 50)).toBe(false); // not expired yet
    expect(await files.deleteExpired('f3', 50)).toBe(false); // never expires
    expect(await files.deleteExpired('in-validating', 50)).toBe(false);
    expect(await files.deleteExpired('f1', 50)).toBe(true);
    expect(await files.deleteExpired('f1', 50)).toBe(false);
    expect(await files.getById('f1')).toBeUndefined();
    // A batch created from an expired file after it was listed keeps it.
    await batches.insert({ ...batch('b-late'), input_file_id: 'f2' });
    expect(await files.deleteExpired('f2', 50)).toBe(false);
    expect(await batches.transition('b-late', ['validating'], 'failed')).toBe(true);
    expect(await files.deleteExpired('f2', 50)).toBe(true);
    expect(await batches.transition('b-in_progress', ['in_progress'], 'finalizing')).toBe(true);
    expect(ids(await files.listExpired(50, 0, 100))).toEqual([
      'in-completed',
      'in-failed',
      'in-expired',
      'in-cancelled',
    ]);
  });

  it('lists batches old enough whose processing never began, in creation order', async () => {
    const { batches } = storage;
    const at = (id: string, created_at: number, status: string, in_progress_at: number | null = null) =>
      batches.insert({ ...batch(id), created_at, status, in_progress_at });
    await at('b1', 10, 'validating');
    await at('b2', 100, 'validating'); // too recent
    await at('b3', 10, 'in_progress', 11);
    await at('b4', 10, 'cancelling'); // cancelled while validating
    await at('b5', 10, 'cancelling', 11);
    await at('b6', 10, 'failed');
    await at('b7', 50, 'validating');
    const ids = (rows: { id: string }[]) => rows.map((r) => r.id);
    expect(ids(await batches.listNotStarted(50, 0, 10))).toEqual(['b1', 'b4', 'b7']);
    const first = await batches.listNotStarted(50, 0, 2);
    expect(ids(first)).toEqual(['b1', 'b4']);
    expect(ids(await batches.listNotStarted(50, first[1].seq, 2))).toEqual(['b7']);
    expect(ids(await batches.listNotStarted(9, 0, 10))).toEqual([]);
  });

  it('pages batches newest first and counts them by status', async () => {
    const { batches } = storage;
    for (const id of ['b1', 'b2', 'b3']) await batches.insert(batch(id));
    await batches.insert(batch('b-other', 'p'));
    const page = await batches.list('o', 2);
    expect([page.rows.map((r) => r.id), page.hasMore]).toEqual([['b3', 'b2'], true]);
    const next = await batches.list('o', 2, 'b2');
    expect([next.rows.map((r) => r.id), next.hasMore]).toEqual([['b1'], false]);
    expect(await batches.list('o', 2, 'b-other')).toEqual({ rows: [], hasMore: false });

    expect(await batches.transition('b1', ['validating'], 'in_progress', { in_progress_at: 5, total: 7 })).toBe(true);
    expect(await batches.transition('b1', ['validating'], 'failed')).toBe(false);
    await batches.update('b1', { completed: 3 }, ['in_progress']);
    // Only in the named statuses: a batch in any other status is left as it is.
    await batches.update('b1', { completed: 4 }, ['validating']);
    expect(await batches.getById('b1')).toMatchObject({
      status: 'in_progress',
      in_progress_at: 5,
      total: 7,
      completed: 3,
    });
    expect(await batches.countByStatus()).toEqual({ validating: 3, in_progress: 1 });
  });

  it('allows one batch per owner and Idempotency-Key', async () => {
    const { batches } = storage;
    await batches.insert(batch('b1', 'o', 'key'));
    await expect(batches.insert(batch('b2', 'o', 'key'))).rejects.toMatchObject(uniqueViolation);
    await batches.insert(batch('b3', 'p', 'key'));
    await batches.insert(batch('b4', 'o'));
    await batches.insert(batch('b5', 'o')); // batches without a key never collide
    expect((await batches.getByIdempotencyKey('o', 'key'))?.id).toBe('b1');
    expect((await batches.getByIdempotencyKey('p', 'key'))?.id).toBe('b3');
    expect(await batches.getByIdempotencyKey('o', 'other')).toBeUndefined();
  });

  it('answers lookups by text with a NUL character (never a stored id) and stores such a model name', async () => {
    const { files, batches } = storage;
    await files.insert(file('f1'));
    await batches.insert(batch('b1'));
    expect(await files.get('o', '\u0000\u0001')).toBeUndefined();
    expect(await files.delete('o', 'f1\u0000')).toBe(false);
    expect(await files.list('o', { limit: 10, order: 'asc', after: '\u0000' })).toEqual({ rows: [], hasMore: false });
    expect(await batches.get('o', 'b1\u0000')).toBeUndefined();
    expect(await batches.getByIdempotencyKey('o', '\u0000')).toBeUndefined();
    expect(await batches.transition('b1', ['validating'], 'in_progress', { model: 'm\u0000x' })).toBe(true);
    // PostgreSQL text cannot hold U+0000: it is stored as U+FFFD there.
    expect((await batches.getById('b1'))?.model).toBe(engine === 'postgres' ? 'm\uFFFDx' : 'm\u0000x');
  });

  it('upserts chunk progress with absolute values and sums it over chunks', async () => {
    const { batches } = storage;
    await batches.saveChunkProgress('b1', 0, progress(1, 0, 10));
    await batches.saveChunkProgress('b1', 0, progress(2, 1, 30)); // a later checkpoint of the same chunk replaces it
    await batches.saveChunkProgress('b1', 1, progress(5, 0, 50));
    await batches.saveChunkProgress('b2', 0, progress(9, 9, 99));
    const total = await batches.chunkProgress('b1');
    expect([total.completed, total.failed, total.usage.total_tokens]).toEqual([7, 1, 80]);
    await batches.clearChunkProgress('b1');
    expect((await batches.chunkProgress('b1')).completed).toBe(0);
    expect((await batches.chunkProgress('b2')).completed).toBe(9);
  });

  it('accepts a chunk checkpoint only from the attempt that owns the chunk or a newer one', async () => {
    const { batches } = storage;
    expect(await batches.saveChunkProgress('b1', 0, progress(1, 0, 10), 1)).toBe(true);
    expect(await batches.saveChunkProgress('b1', 0, progress(2, 0, 20), 1)).toBe(true);
    expect(await batches.saveChunkProgress('b1', 0, progress(2, 0, 20), 3)).toBe(true); // attempt 3 claims it
    expect(await batches.saveChunkProgress('b1', 0, progress(9, 9, 90), 2)).toBe(false); // a stale attempt is refused
    expect(await batches.saveChunkProgress('b1', 1, progress(1, 0, 5), 2)).toBe(true);
    expect(await batches.chunkOwners('b1')).toEqual(
      new Map([
        [0, 3],
        [1, 2],
      ]),
    );
    expect((await batches.chunkProgress('b1')).completed).toBe(3);
  });
});
