import type { Kysely, Migration } from 'kysely';

/**
 * Which activity attempt owns each chunk. A checkpoint is accepted only from the owner or a newer attempt
 * (compare-and-set in one statement), so an attempt Temporal gave up on can never overwrite its successor's.
 */
export const chunkAttemptMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .alterTable('chunk_progress')
      .addColumn('attempt', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
  },
};
