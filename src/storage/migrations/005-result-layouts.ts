import type { Kysely, Migration } from 'kysely';

/**
 * Where each chunk's lines sit in a batch's output and error files, written by finalize before the batch ends: a client
 * tailing `GET /v1/batches/{id}/results` with a cursor from before the end is served the rest from the final files.
 */
export const resultLayoutsMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('result_layouts')
      .ifNotExists()
      .addColumn('batch_id', 'text', (c) => c.primaryKey())
      .addColumn('layout', 'text', (c) => c.notNull())
      .execute();
  },
};
