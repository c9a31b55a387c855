import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
});
