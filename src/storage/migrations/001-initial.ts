import { sql, type Kysely, type Migration } from 'kysely';
import type { SqlDialect } from '../database';

/** Files, batches and chunk progress. `seq` gives a stable creation order for pagination. */
export const initialMigration = (dialect: SqlDialect): Migration => ({
  async up(db: Kysely<unknown>) {
    const seq = dialect === 'postgres' ? sql`bigserial primary key` : sql`integer primary key autoincrement`;
    await db.schema
      .createTable('files')
      .addColumn('seq', seq)
      .addColumn('id', 'text', (c) => c.notNull().unique())
      .addColumn('owner', 'text', (c) => c.notNull())
      .addColumn('purpose', 'text', (c) => c.notNull())
      .addColumn('filename', 'text', (c) => c.notNull())
      .addColumn('bytes', 'bigint', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('expires_at', 'bigint')
      .addColumn('blob_key', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('files_owner_seq').on('files').columns(['owner', 'seq']).execute();

    await db.schema
      .createTable('batches')
      .addColumn('seq', seq)
      .addColumn('id', 'text', (c) => c.notNull().unique())
      .addColumn('owner', 'text', (c) => c.notNull())
      .addColumn('endpoint', 'text', (c) => c.notNull())
      .addColumn('model', 'text')
      .addColumn('input_file_id', 'text', (c) => c.notNull())
      .addColumn('completion_window', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('output_file_id', 'text')
      .addColumn('error_file_id', 'text')
      .addColumn('errors', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('in_progress_at', 'bigint')
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .addColumn('finalizing_at', 'bigint')
      .addColumn('completed_at', 'bigint')
      .addColumn('failed_at', 'bigint')
      .addColumn('expired_at', 'bigint')
      .addColumn('cancelling_at', 'bigint')
      .addColumn('cancelled_at', 'bigint')
      .addColumn('total', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('completed', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('failed', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('usage', 'text')
      .addColumn('metadata', 'text')
      .addColumn('output_expires_seconds', 'integer')
      .addColumn('idempotency_key', 'text')
      .addColumn('request_hash', 'text')
      .execute();
    await db.schema.createIndex('batches_owner_seq').on('batches').columns(['owner', 'seq']).execute();
    await db.schema
      .createIndex('batches_owner_idempotency')
      .on('batches')
      .columns(['owner', 'idempotency_key'])
      .unique()
      .execute();

    await db.schema
      .createTable('chunk_progress')
      .addColumn('batch_id', 'text', (c) => c.notNull())
      .addColumn('chunk', 'integer', (c) => c.notNull())
      .addColumn('completed', 'integer', (c) => c.notNull())
      .addColumn('failed', 'integer', (c) => c.notNull())
      .addColumn('usage', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('chunk_progress_pk', ['batch_id', 'chunk'])
      .execute();
  },
});
