import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { openStorage } from './storage';

describe('the SQLite metadata store', () => {
  it('opens from several processes at once on a fresh file (migrations race safely)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'db-race-'));
    try {
      const stores = await Promise.all(Array.from({ length: 4 }, () => openStorage({ DATA_DIR: dir })));
      await stores[0].files.insert({
        id: 'file-1',
        owner: 'o',
        purpose: 'batch',
        filename: 'a.jsonl',
        bytes: 1,
        created_at: 1,
        expires_at: null,
        blob_key: 'files/file-1',
      });
      // A cached prepared statement sees the other connection's write.
      for (const s of stores) expect((await s.files.get('o', 'file-1'))?.filename).toBe('a.jsonl');
      expect(await stores[1].files.get('o', 'file-2')).toBeUndefined();
      await Promise.all(stores.map((s) => s.close()));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('opens a store that a newer version migrated further (a rolling upgrade), and refuses a gap', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'db-newer-'));
    try {
      const first = await openStorage({ DATA_DIR: dir });
      await sql`insert into kysely_migration (name, timestamp) values ('999-from-a-newer-version', '2030-01-01')`.execute(
        first.db.kysely,
      );
      await first.close();
      const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
      const again = await openStorage({ DATA_DIR: dir });
      expect(warn).toHaveBeenCalledWith(expect.stringContaining('999-from-a-newer-version'));
      warn.mockRestore();
      expect(await again.files.get('o', 'none')).toBeUndefined();
      // A migration this code does not know that sorts before one it knows is no newer version: refused.
      await sql`insert into kysely_migration (name, timestamp) values ('000-unknown', '2030-01-01')`.execute(
        again.db.kysely,
      );
      await again.close();
      await expect(openStorage({ DATA_DIR: dir })).rejects.toThrow(/000-unknown/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
