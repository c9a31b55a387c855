import { join } from 'node:path';
import type { AppConfig } from '../config/config';
import { AdmissionStore } from './admission.store';
import { BatchStore } from './batch.store';
import { FsBlobStore, type BlobStore } from './blob.store';
import { openDatabase, type DatabaseConfig, type Db } from './database';
import { FileStore } from './file.store';

/** Everything persistent: metadata stores and the blob store. Shared by the API and the worker. */
export interface Storage {
  db: Db;
  files: FileStore;
  batches: BatchStore;
  /** Batches admitted against their owner's limits (the tenants file). */
  admissions: AdmissionStore;
  blobs: BlobStore;
  close(): Promise<void>;
}

/** What openStorage reads; the blob settings default to the filesystem store under DATA_DIR. */
export type StorageConfig = DatabaseConfig &
  Partial<Pick<AppConfig, 'BLOB_URL' | 'S3_ENDPOINT' | 'S3_FORCE_PATH_STYLE' | 'AWS_REGION'>>;

/** Opens the metadata store (migrating it) and the blob store for this configuration. */
export async function openStorage(config: StorageConfig): Promise<Storage> {
  const blobs = await openBlobStore(config);
  const db = await openDatabase(config).catch((err: unknown) => {
    blobs.close();
    throw err;
  });
  return {
    db,
    files: new FileStore(db.kysely),
    batches: new BatchStore(db.kysely),
    admissions: new AdmissionStore(db.kysely, db.dialect),
    blobs: blobs.store,
    close: async () => {
      await db.kysely.destroy();
      blobs.close();
    },
  };
}

/** BLOB_URL=s3://bucket/prefix: the S3 store (its bucket checked now); unset: files under DATA_DIR/blobs. */
async function openBlobStore(config: StorageConfig): Promise<{ store: BlobStore; close(): void }> {
  if (!config.BLOB_URL) return { store: new FsBlobStore(join(config.DATA_DIR, 'blobs')), close: () => undefined };
  // Loaded only here, so a filesystem deployment never loads the AWS SDK.
  const { S3BlobStore } = await import('./s3-blob.store');
  const store = await S3BlobStore.open({
    BLOB_URL: config.BLOB_URL,
    S3_ENDPOINT: config.S3_ENDPOINT,
    S3_FORCE_PATH_STYLE: config.S3_FORCE_PATH_STYLE ?? 'false',
    AWS_REGION: config.AWS_REGION ?? 'us-east-1',
  });
  return { store, close: () => store.close() };
}
