import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, dropTestDatabase } from '../../test/support/test-database';
import { emptyUsage } from '../batch-format/usage';
import { testBatchRow } from '../../test/support/batch-rows';
import type { Checkpoint, Progress } from './batch.store';
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
  testBatchRow(id, { owner, idempotency_key });

const progress = (completed: number, failed: number, tokens: number): Progress => {
  const usage = emptyUsage();
  usage.total_tokens = tokens;
  return { completed, failed, usage };
};
/** A chunk checkpoint with these counts and a state text. */
const checkpoint = (completed: number, failed: number, tokens: number, state = `s${completed}`): Checkpoint => ({
  ...progress(completed, failed, tokens),
  state,
});

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
    expect(await files.delete('p', 'f1', 100)).toBe('missing');
    expect(await files.delete('o', 'f1', 100)).toBe('removed');
    expect(await files.get('o', 'f1')).toBeUndefined();
  });

  it('holds a deleted file that an unfinished batch reads until that batch ends', async () => {
    const { files, batches } = storage;
    await files.insert(file('f1'));
    await batches.insert({ ...batch('b1'), input_file_id: 'f1', status: 'in_progress' });
    expect(await files.delete('o', 'f1', 100)).toBe('held');
    // Gone for its owner at once; still there for the worker that reads it.
    expect(await files.get('o', 'f1')).toBeUndefined();
    expect((await files.list('o', { limit: 10, order: 'asc' })).rows).toEqual([]);
    expect((await files.getById('f1'))?.deleted_at).not.toBeNull();
    expect(await files.delete('o', 'f1', 101)).toBe('missing');
    // Not removable while the batch runs; removable once it has ended, expired or not.
    expect(await files.listExpired(0, 0, 10)).toEqual([]);
    expect(await files.deleteExpired('f1', 0)).toBe(false);
    expect(await batches.transition('b1', ['in_progress'], 'cancelled')).toBe(true);
    expect((await files.listExpired(0, 0, 10)).map((f) => f.id)).toEqual(['f1']);
    expect(await files.deleteExpired('f1', 0)).toBe(true);
    expect(await files.getById('f1')).toBeUndefined();
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

  it("counts an owner's admitted batches until they leave finalizing, and admits one only while it validates", async () => {
    const { batches, admissions } = storage;
    for (const id of ['b1', 'b2', 'b3', 'b4', 'b-done']) await batches.insert(batch(id));
    await batches.insert(batch('b-other', 'p'));
    const none = () => [] as string[];
    expect(await admissions.admit('b1', 'o', { requests: 5, tokens: 50 }, none)).toEqual([]);
    expect(await admissions.admit('b-other', 'p', { requests: 100, tokens: 1000 }, none)).toEqual([]);
    // Admitted while still validating: it counts at once (another validation may be deciding meanwhile).
    expect(await admissions.enqueued(storage.db.kysely, 'o', 'b4')).toEqual({ batches: 1, requests: 5, tokens: 50 });
    // Without limits the batch is only recorded.
    expect(await admissions.admit('b2', 'o', { requests: 3, tokens: 30 })).toEqual([]);
    await batches.transition('b2', ['validating'], 'in_progress', { total: 3 });
    // A row from before admissions were recorded counts its total and no tokens.
    await batches.transition('b3', ['validating'], 'finalizing', { total: 7 });
    await admissions.admit('b-done', 'o', { requests: 1000, tokens: 1000 }, none);
    await batches.transition('b-done', ['validating'], 'completed');
    expect(await admissions.enqueued(storage.db.kysely, 'o', 'b4')).toEqual({ batches: 3, requests: 15, tokens: 80 });
    // Its own row is not counted against it.
    expect(await admissions.enqueued(storage.db.kysely, 'o', 'b1')).toEqual({ batches: 2, requests: 10, tokens: 30 });

    const seen: unknown[] = [];
    const refuse = (e: unknown) => (seen.push(e), ['over']);
    expect(await admissions.admit('b4', 'o', { requests: 1, tokens: 1 }, refuse)).toEqual(['over']);
    expect(seen).toEqual([{ batches: 3, requests: 15, tokens: 80 }]);
    expect(await batches.getById('b4')).toMatchObject({ admitted_requests: null, estimated_tokens: null });
    // Already admitted, or no longer validating: left as it is, nothing asked.
    expect(await admissions.admit('b1', 'o', { requests: 9, tokens: 9 }, refuse)).toEqual([]);
    expect(await admissions.admit('b3', 'o', { requests: 9, tokens: 9 }, refuse)).toEqual([]);
    expect(seen).toHaveLength(1);
    expect(await batches.getById('b1')).toMatchObject({ admitted_requests: 5, estimated_tokens: 50 });
  });

  it('admits batches of one owner validating at the same moment one at a time, from several processes', async () => {
    const other = await openStorage({ DATA_DIR: dataDir, DATABASE_URL: url });
    try {
      const ids = Array.from({ length: 12 }, (_, i) => `race-${i}`);
      for (const id of ids) await storage.batches.insert(batch(id));
      const atMostThree = (e: { batches: number }) => (e.batches >= 3 ? ['full'] : []);
      const outcomes = await Promise.all(
        ids.map((id, i) =>
          (i % 2 ? other : storage).admissions.admit(id, 'o', { requests: 1, tokens: 1 }, atMostThree),
        ),
      );
      expect(outcomes.filter((o) => o.length === 0)).toHaveLength(3);
      expect(await storage.admissions.enqueued(storage.db.kysely, 'o', 'none')).toMatchObject({ batches: 3 });
    } finally {
      await other.close();
    }
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
    expect(await files.delete('o', 'f1\u0000', 100)).toBe('missing');
    expect(await files.list('o', { limit: 10, order: 'asc', after: '\u0000' })).toEqual({ rows: [], hasMore: false });
    expect(await batches.get('o', 'b1\u0000')).toBeUndefined();
    expect(await batches.getByIdempotencyKey('o', '\u0000')).toBeUndefined();
    expect(await batches.transition('b1', ['validating'], 'in_progress', { model: 'm\u0000x' })).toBe(true);
    // PostgreSQL text cannot hold U+0000: it is stored as U+FFFD there.
    expect((await batches.getById('b1'))?.model).toBe(engine === 'postgres' ? 'm\uFFFDx' : 'm\u0000x');
  });

  /** Claims a chunk as processChunk does, starting from nothing; returns the token and what the claim saw. */
  async function claim(batchId: string, chunk: number) {
    const seen: { owner: number; state: string | null }[] = [];
    const token = await storage.batches.claimChunk(batchId, chunk, async (previous, next) => {
      seen.push(previous);
      return checkpoint(0, 0, 0, `claimed by ${next}`);
    });
    return { token, seen: seen[seen.length - 1] };
  }

  it('keeps chunk checkpoints with absolute values and sums them over chunks', async () => {
    const { batches } = storage;
    const [a, b, c] = [await claim('b1', 0), await claim('b1', 1), await claim('b2', 0)];
    expect(await batches.liveProgress('b3')).toBeUndefined();
    await batches.saveChunkProgress('b1', 0, a.token, checkpoint(1, 0, 10));
    await batches.saveChunkProgress('b1', 0, a.token, checkpoint(2, 1, 30)); // a later checkpoint replaces it
    await batches.saveChunkProgress('b1', 1, b.token, checkpoint(5, 0, 50));
    await batches.saveChunkProgress('b2', 0, c.token, checkpoint(9, 9, 99));
    const total = await batches.chunkProgress('b1');
    expect([total.completed, total.failed, total.usage.total_tokens]).toEqual([7, 1, 80]);
    await batches.clearChunkProgress('b1');
    expect((await batches.chunkProgress('b1')).completed).toBe(0);
    expect(await batches.liveProgress('b1')).toBeUndefined();
    expect((await batches.chunkProgress('b2')).completed).toBe(9);
  });

  it('fences chunk attempts by store tokens: a claim shuts the previous owner out, whatever its attempt number', async () => {
    const { batches } = storage;
    const first = await claim('b1', 0);
    expect(first).toEqual({ token: 1, seen: { owner: 0, state: null } });
    expect(await batches.saveChunkProgress('b1', 0, first.token, checkpoint(4, 0, 40, 'four done'))).toBe(true);
    // The next claim starts from what the owner committed, and takes a token never used before.
    const second = await claim('b1', 0);
    expect(second).toEqual({ token: 2, seen: { owner: 1, state: 'four done' } });
    expect(await batches.saveChunkProgress('b1', 0, first.token, checkpoint(9, 9, 90))).toBe(false);
    expect(await batches.saveChunkProgress('b1', 0, second.token, checkpoint(6, 0, 60, 'six done'))).toBe(true);
    // Claims racing each other each get their own token.
    const tokens = await Promise.all(Array.from({ length: 5 }, () => claim('b1', 0).then((c) => c.token)));
    expect(new Set(tokens).size).toBe(5);
    expect(Math.min(...tokens)).toBe(3);
    // Finalize fences every chunk and reads what its owner committed; no attempt can checkpoint afterwards.
    const latest = Math.max(...tokens);
    expect(await batches.saveChunkProgress('b1', 0, latest, checkpoint(7, 0, 70, 'seven done'))).toBe(true);
    expect(await batches.fenceChunks('b1')).toEqual(new Map([[0, { owner: latest, state: 'seven done' }]]));
    expect(await batches.saveChunkProgress('b1', 0, latest, checkpoint(8, 0, 80))).toBe(false);
    // Once cleared, a late checkpoint does not bring the row back.
    await batches.clearChunkProgress('b1');
    expect(await batches.saveChunkProgress('b1', 0, latest + 1, checkpoint(8, 0, 80))).toBe(false);
    expect(await batches.liveProgress('b1')).toBeUndefined();
  });
});
