import type { Kysely, Migration } from 'kysely';

/** Indexes for the maintenance queries: expired files, batches by input file, and batches by status. */
export const retentionIndexesMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.createIndex('files_expires_at').ifNotExists().on('files').column('expires_at').execute();
    // Whether a batch that has not ended still reads a file (an expired input file is kept until then).
    await db.schema
      .createIndex('batches_input_file_status')
      .ifNotExists()
      .on('batches')
      .columns(['input_file_id', 'status'])
      .execute();
    await db.schema.createIndex('batches_status_seq').ifNotExists().on('batches').columns(['status', 'seq']).execute();
  },
};
