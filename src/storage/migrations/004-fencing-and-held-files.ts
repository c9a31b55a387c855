import type { Kysely, Migration } from 'kysely';

/**
 * Chunk checkpoints move into the metadata store, beside the fencing token (`attempt`) that a claim bumps: one row
 * holds who owns a chunk and what it committed, so a claim and a checkpoint are each one compare-and-set. Rows of
 * chunks checkpointed before this keep `state` null; their checkpoint is still read from the blob store.
 *
 * A file deleted while an unfinished batch reads it is marked deleted (gone from the API at once) and removed by
 * maintenance once no unfinished batch reads it.
 */
export const fencingAndHeldFilesMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable('chunk_progress').addColumn('state', 'text').execute();
    await db.schema.alterTable('files').addColumn('deleted_at', 'bigint').execute();
    await db.schema.createIndex('files_deleted_at').ifNotExists().on('files').column('deleted_at').execute();
  },
};
