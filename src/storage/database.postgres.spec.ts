import { sql } from 'kysely';
import { tmpdir } from 'node:os';
import { testBatchRow as batch } from '../../test/support/batch-rows';
import { createTestDatabase, dropTestDatabase } from '../../test/support/test-database';
import { openDatabase } from './database';
import { openStorage, type Storage } from './storage';

/** Only the metadata store is used here; nothing is written under DATA_DIR. */
const DATA_DIR = tmpdir();

describe('the PostgreSQL metadata store', () => {
  let url: string;
  const open: Storage[] = [];
  const openStore = async () => {
    const s = await openStorage({ DATA_DIR, DATABASE_URL: url });
    open.push(s);
    return s;
  };

  beforeEach(async () => {
    url = await createTestDatabase();
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
    await dropTestDatabase(url);
  });

  it('migrates a fresh database at open, and a second open applies nothing again', async () => {
    const first = await openStore();
    const tables = await sql<{ table_name: string }>`
      select table_name from information_schema.tables where table_schema = 'public' order by table_name`.execute(
      first.db.kysely,
    );
    expect(tables.rows.map((r) => r.table_name)).toEqual([
      'batches',
      'chunk_progress',
      'files',
      'kysely_migration',
      'kysely_migration_lock',
      'result_layouts',
    ]);
    expect(first.db.dialect).toBe('postgres');
    await first.batches.insert(batch('batch-1'));
    await first.close();
    open.length = 0;

    const second = await openStore();
    const applied = await sql<{ name: string }>`select name from kysely_migration`.execute(second.db.kysely);
    expect(applied.rows.map((r) => r.name)).toEqual([
      '001-initial',
      '002-chunk-attempt',
      '003-retention-indexes',
      '004-fencing-and-held-files',
      '005-result-layouts',
      '006-owner-admission',
    ]);
    const indexes = await sql<{ indexname: string }>`
      select indexname from pg_indexes where schemaname = 'public' and indexname in
        ('files_expires_at', 'batches_input_file_status', 'batches_status_seq') order by indexname`.execute(
      second.db.kysely,
    );
    expect(indexes.rows.map((r) => r.indexname)).toEqual([
      'batches_input_file_status',
      'batches_status_seq',
      'files_expires_at',
    ]);
    expect((await second.batches.getById('batch-1'))?.status).toBe('validating');
  });

  it('opens from several processes at once on a fresh database (the migration lock serializes them)', async () => {
    const stores = await Promise.all(Array.from({ length: 4 }, () => openStore()));
    await stores[0].batches.insert(batch('batch-1'));
    for (const s of stores) expect((await s.batches.getById('batch-1'))?.id).toBe('batch-1');
  });

  it('returns bigint columns, sequence numbers, counts and sums as numbers', async () => {
    const store = await openStore();
    const big = 5_000_000_000; // past int4, still far below 2^53
    await store.files.insert({
      id: 'file-1',
      owner: 'o',
      purpose: 'batch',
      filename: 'a.jsonl',
      bytes: big,
      created_at: 1_800_000_000,
      expires_at: null,
      blob_key: 'files/file-1',
    });
    const row = await store.files.get('o', 'file-1');
    expect(row).toMatchObject({ bytes: big, created_at: 1_800_000_000, seq: 1, expires_at: null });
    const totals = await store.db.kysely
      .selectFrom('files')
      .select((eb) => [eb.fn.countAll().as('n'), eb.fn.sum('bytes').as('sum')])
      .executeTakeFirstOrThrow();
    expect(totals).toEqual({ n: 1, sum: big });
    await store.batches.insert(batch('batch-1'));
    expect(await store.batches.countByStatus()).toEqual({ validating: 1 });
  });

  it('applies a compare-and-set transition once when many race for it', async () => {
    const [a, b] = await Promise.all([openStore(), openStore()]);
    await a.batches.insert(batch('batch-1'));
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        (i % 2 ? a : b).batches.transition('batch-1', ['validating'], i % 4 < 2 ? 'in_progress' : 'failed', {
          total: i,
        }),
      ),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    const winner = results.indexOf(true);
    expect(await a.batches.getById('batch-1')).toMatchObject({
      status: winner % 4 < 2 ? 'in_progress' : 'failed',
      total: winner,
    });
  });

  it('refuses to start on an unreachable server with a message naming DATABASE_URL but not the password', async () => {
    const bad = 'postgres://postgres:s3cret-pw@127.0.0.1:1/none';
    const err = await openDatabase({ DATA_DIR, DATABASE_URL: bad }).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).toMatch(
      /^Cannot open the PostgreSQL store at DATABASE_URL=postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:1\/none: /,
    );
    expect(err?.message).toMatch(/ECONNREFUSED/);
    expect(err?.message).not.toContain('s3cret-pw');
  });

  it('names a missing database in the start error', async () => {
    const missing = url.replace(/\/[^/]+$/, '/bt_does_not_exist');
    await expect(openDatabase({ DATA_DIR, DATABASE_URL: missing })).rejects.toThrow(
      /DATABASE_URL=.*bt_does_not_exist: database "bt_does_not_exist" does not exist/,
    );
  });
});
