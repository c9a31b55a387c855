import { sql, type Kysely } from 'kysely';
import type { SqlDialect } from './database';
import type { Database } from './schema';

/** What a batch counts against its owner's limits. */
export interface AdmissionNeed {
  requests: number;
  /** Estimated prompt tokens. */
  tokens: number;
}

/** What an owner has enqueued: its other admitted batches that have not left finalizing. */
export interface OwnerEnqueued {
  batches: number;
  requests: number;
  tokens: number;
}

/** Separates this service's advisory locks from any other user of the database (the two-key lock space). */
const ADMISSION_LOCK_CLASS = 0x62617463; // 'batc'

/**
 * Admits batches against their owner's limits. Two batches of one owner validating at the same moment must not both
 * slip past a limit, so a batch is admitted only by one statement that also checks that what its owner has enqueued
 * is still what the limits were checked against (else it is checked again). On SQLite one writing statement holds the
 * single writer lock from its start, so nothing can come between its check and its write. On PostgreSQL, under read
 * committed, two such statements could each miss the other's row: there the check and the admission run in a
 * transaction holding an advisory lock keyed by the owner, so one owner's admissions take turns.
 */
export class AdmissionStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: SqlDialect,
  ) {}

  /**
   * Admits `batchId` (still validating, not yet admitted) with `need`, unless `refuse` finds reasons against it in
   * what its owner has enqueued; returns those reasons (none: admitted). Without `refuse` (the owner has no limits)
   * it only records what the batch counts. A batch no longer validating, or already admitted, is left as it is.
   */
  async admit<R>(
    batchId: string,
    owner: string,
    need: AdmissionNeed,
    refuse?: (enqueued: OwnerEnqueued) => R[],
  ): Promise<R[]> {
    if (!refuse) {
      await this.record(this.db, batchId, need);
      return [];
    }
    return this.exclusive(owner, async (db) => {
      for (;;) {
        const row = await db
          .selectFrom('batches')
          .select(['status', 'estimated_tokens'])
          .where('id', '=', batchId)
          .executeTakeFirst();
        if (row?.status !== 'validating' || row.estimated_tokens !== null) return [];
        const enqueued = await this.enqueued(db, owner, batchId);
        const reasons = refuse(enqueued);
        if (reasons.length > 0 || (await this.record(db, batchId, need, { owner, enqueued }))) return reasons;
        // Another batch of the owner was admitted or ended (or this one left validating) since the read: again.
      }
    });
  }

  /**
   * The owner's batches other than `batchId` that count: admitted and still validating, in_progress or finalizing.
   * Rows from before admissions were recorded count their total and no tokens.
   */
  async enqueued(db: Kysely<Database>, owner: string, batchId: string): Promise<OwnerEnqueued> {
    const { rows } = await sql<OwnerEnqueued>`
      select count(*) as batches, ${REQUESTS} as requests, ${TOKENS} as tokens ${counted(owner, batchId)}`.execute(db);
    const r = rows[0];
    return { batches: Number(r.batches), requests: Number(r.requests), tokens: Number(r.tokens) };
  }

  /**
   * Records what the batch counts while it is validating and not yet admitted, and, given `unchanged`, only while
   * its owner's enqueued batches still add up to what was read. True when it did.
   */
  private async record(
    db: Kysely<Database>,
    batchId: string,
    need: AdmissionNeed,
    unchanged?: { owner: string; enqueued: OwnerEnqueued },
  ): Promise<boolean> {
    let update = db
      .updateTable('batches')
      .set({ admitted_requests: need.requests, estimated_tokens: need.tokens })
      .where('id', '=', batchId)
      .where('status', '=', 'validating')
      .where('estimated_tokens', 'is', null);
    if (unchanged) {
      const from = counted(unchanged.owner, batchId);
      const { batches, requests, tokens } = unchanged.enqueued;
      update = update
        .where(sql<boolean>`(select count(*) ${from}) = ${batches}`)
        .where(sql<boolean>`(select ${REQUESTS} ${from}) = ${requests}`)
        .where(sql<boolean>`(select ${TOKENS} ${from}) = ${tokens}`);
    }
    return Number((await update.executeTakeFirst()).numUpdatedRows) > 0;
  }

  /** Runs `fn` as the only admission of `owner` in progress (PostgreSQL; see the class comment). */
  private async exclusive<T>(owner: string, fn: (db: Kysely<Database>) => Promise<T>): Promise<T> {
    // SQLite: the admitting statement checks and writes under the writer lock by itself. A transaction would hold the
    // lock across awaits, and another connection's busy wait blocks its whole thread meanwhile.
    if (this.dialect !== 'postgres') return fn(this.db);
    return this.db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(${ADMISSION_LOCK_CLASS}, hashtext(${owner}))`.execute(trx);
      return fn(trx);
    });
  }
}

const REQUESTS = sql`coalesce(sum(coalesce(o.admitted_requests, o.total)), 0)`;
const TOKENS = sql`coalesce(sum(o.estimated_tokens), 0)`;

/** `from ... where ...` of the owner's batches other than `batchId` that count against its limits. */
const counted = (owner: string, batchId: string) => sql`
  from batches as o
  where o.owner = ${owner} and o.id <> ${batchId}
    and (o.status in ('in_progress', 'finalizing') or (o.status = 'validating' and o.estimated_tokens is not null))`;
