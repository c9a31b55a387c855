import { join } from 'node:path';
import { BatchStore } from './batch.store';
import { FsBlobStore, type BlobStore } from './blob.store';
import { openDatabase, type DatabaseConfig, type Db } from './database';
import { FileStore } from './file.store';

/** Everything persistent: metadata stores and the blob store. Shared by the API and the worker. */
export interface Storage {
  db: Db;
  files: FileStore;
  batches: BatchStore;
  blobs: BlobStore;
  close(): Promise<void>;
}

/** Opens the metadata store (migrating it) and the blob store for this configuration. */
export async function openStorage(config: DatabaseConfig): Promise<Storage> {
  const db = await openDatabase(config);
  return {
    db,
    files: new FileStore(db.kysely),
    batches: new BatchStore(db.kysely),
    blobs: new FsBlobStore(join(config.DATA_DIR, 'blobs')),
    close: () => db.kysely.destroy(),
  };
}
