import type { Kysely, Migration } from 'kysely';

/**
 * What a batch counts against its owner's limits (the tenants file): its requests and estimated prompt tokens, set
 * when validation admits it. A batch with them set counts from then until it leaves finalizing; rows written before
 * this count their `total` and no tokens. The index serves the sum over an owner's batches that each admission reads.
 */
export const ownerAdmissionMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable('batches').addColumn('admitted_requests', 'bigint').execute();
    await db.schema.alterTable('batches').addColumn('estimated_tokens', 'bigint').execute();
    await db.schema
      .createIndex('batches_owner_status')
      .ifNotExists()
      .on('batches')
      .columns(['owner', 'status'])
      .execute();
  },
};
