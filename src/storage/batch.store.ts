import { sql, type Kysely, type Selectable, type Updateable } from 'kysely';
import { UNFINISHED_STATUSES, type BatchStatus } from '../batch-format/status';
import { addUsage, emptyUsage, type Usage } from '../batch-format/usage';
import { idLookups, prepared } from './prepared';
import type { BatchTable, Database } from './schema';

/** A stored batch row. */
export type BatchRow = Selectable<BatchTable>;
/** What is inserted for a new batch. */
export type NewBatch = Omit<BatchRow, 'seq'>;
/** Columns a transition may set besides the status. */
export type BatchPatch = Omit<Updateable<BatchTable>, 'seq' | 'id' | 'owner' | 'status'>;

/** What a new batch is created with; everything else starts empty. */
export type NewBatchFields = Pick<
  NewBatch,
  'id' | 'owner' | 'endpoint' | 'input_file_id' | 'completion_window' | 'created_at' | 'expires_at'
> &
  Partial<Pick<NewBatch, 'metadata' | 'output_expires_seconds' | 'idempotency_key' | 'request_hash'>>;

/** A batch row in `validating`, with every timestamp, count and file id still unset. */
export function newValidatingBatch(fields: NewBatchFields): NewBatch {
  return {
    model: null,
    status: 'validating',
    output_file_id: null,
    error_file_id: null,
    errors: null,
    in_progress_at: null,
    finalizing_at: null,
    completed_at: null,
    failed_at: null,
    expired_at: null,
    cancelling_at: null,
    cancelled_at: null,
    total: 0,
    completed: 0,
    failed: 0,
    usage: null,
    metadata: null,
    output_expires_seconds: null,
    idempotency_key: null,
    request_hash: null,
    admitted_requests: null,
    estimated_tokens: null,
    ...fields,
  };
}

/** Progress of the requests that have a final answer. */
export interface Progress {
  completed: number;
  failed: number;
  usage: Usage;
}

/** A chunk's checkpoint as the store keeps it: its counts (summed for live request_counts) and its whole state. */
export interface Checkpoint extends Progress {
  /** The chunk's state as JSON, read back by the next claim and by finalize. */
  state: string;
}

const checkpointColumns = (c: Checkpoint) => ({
  completed: c.completed,
  failed: c.failed,
  usage: JSON.stringify(c.usage),
  state: c.state,
});

/** Batch rows and their per-chunk progress. Status changes are compare-and-set on the current status. */
export class BatchStore {
  private readonly lookups;
  private readonly progressRows;

  constructor(private readonly db: Kysely<Database>) {
    this.lookups = idLookups(db, 'batches');
    this.progressRows = prepared(db as unknown as Kysely<never>, 1, (batchId: string) =>
      db.selectFrom('chunk_progress').select(['completed', 'failed', 'usage']).where('batch_id', '=', batchId),
    );
  }

  /** Inserts a new batch row. */
  async insert(batch: NewBatch): Promise<void> {
    await this.db.insertInto('batches').values(batch).execute();
  }

  /** The owner's batch, or undefined. */
  async get(owner: string, id: string): Promise<BatchRow | undefined> {
    return (await this.lookups.byOwnerAndId(owner, id))[0];
  }

  /** A batch by id, any owner (worker side). */
  async getById(id: string): Promise<BatchRow | undefined> {
    return (await this.lookups.byId(id))[0];
  }

  /** The owner's batch created with this Idempotency-Key, if any. */
  async getByIdempotencyKey(owner: string, key: string): Promise<BatchRow | undefined> {
    return this.db
      .selectFrom('batches')
      .selectAll()
      .where('owner', '=', owner)
      .where('idempotency_key', '=', key)
      .executeTakeFirst();
  }

  /** Newest first; `after` is the last id of the previous page. */
  async list(owner: string, limit: number, after?: string): Promise<{ rows: BatchRow[]; hasMore: boolean }> {
    let q = this.db.selectFrom('batches').selectAll().where('owner', '=', owner);
    if (after) {
      const cursor = await this.get(owner, after);
      if (!cursor) return { rows: [], hasMore: false };
      q = q.where('seq', '<', cursor.seq);
    }
    const rows = await q
      .orderBy('seq', 'desc')
      .limit(limit + 1)
      .execute();
    return { rows: rows.slice(0, limit), hasMore: rows.length > limit };
  }

  /**
   * Batches created at or before `createdBefore` whose processing never began (validating, or cancelled while
   * validating), in creation order after `afterSeq`: those whose workflow may never have been started.
   */
  async listNotStarted(createdBefore: number, afterSeq: number, limit: number): Promise<BatchRow[]> {
    return this.db
      .selectFrom('batches')
      .selectAll()
      .where('status', 'in', ['validating', 'cancelling'])
      .where('in_progress_at', 'is', null)
      .where('created_at', '<=', createdBefore)
      .where('seq', '>', afterSeq)
      .orderBy('seq')
      .limit(limit)
      .execute();
  }

  /** Batches that have not ended, created at or before `createdBefore`, in creation order after `afterSeq`. */
  async listUnfinished(createdBefore: number, afterSeq: number, limit: number): Promise<BatchRow[]> {
    return this.db
      .selectFrom('batches')
      .selectAll()
      .where('status', 'in', UNFINISHED_STATUSES)
      .where('created_at', '<=', createdBefore)
      .where('seq', '>', afterSeq)
      .orderBy('seq')
      .limit(limit)
      .execute();
  }

  /** Sets `to` (and the patch) only if the status is one of `from`; true when it did. */
  async transition(
    id: string,
    from: readonly BatchStatus[],
    to: BatchStatus,
    patch: BatchPatch = {},
  ): Promise<boolean> {
    const result = await this.db
      .updateTable('batches')
      .set({ ...patch, status: to })
      .where('id', '=', id)
      .where('status', 'in', from)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /**
   * Updates columns other than the status while the batch is in one of `statuses`. A batch in a final status
   * never changes (readers cache it), so callers name the live statuses their update belongs to.
   */
  async update(id: string, patch: BatchPatch, statuses: readonly BatchStatus[]): Promise<void> {
    await this.db.updateTable('batches').set(patch).where('id', '=', id).where('status', 'in', statuses).execute();
  }

  /**
   * Claims a chunk for a new attempt: bumps its fencing token and stores the attempt's first checkpoint in one
   * compare-and-set. `start` gets what the previous owner committed (its token, 0 for none, and its checkpoint, null
   * for none or one written before checkpoints were kept here) and returns the new attempt's checkpoint. From then on
   * only the new token may checkpoint, so an earlier attempt still running (Temporal gave up on it, or an operator
   * reset it) is shut out. Tokens never repeat, whatever Temporal's attempt counter says.
   */
  async claimChunk(
    batchId: string,
    chunk: number,
    start: (previous: { owner: number; state: string | null }, token: number) => Promise<Checkpoint>,
  ): Promise<number> {
    for (;;) {
      const row = await this.db
        .selectFrom('chunk_progress')
        .select(['attempt', 'state'])
        .where('batch_id', '=', batchId)
        .where('chunk', '=', chunk)
        .executeTakeFirst();
      const owner = row ? Number(row.attempt) : 0;
      const token = owner + 1;
      const first = checkpointColumns(await start({ owner, state: row?.state ?? null }, token));
      const claimed = row
        ? await this.db
            .updateTable('chunk_progress')
            .set({ attempt: token, ...first })
            .where('batch_id', '=', batchId)
            .where('chunk', '=', chunk)
            .where('attempt', '=', owner)
            .executeTakeFirst()
            .then((r) => Number(r.numUpdatedRows))
        : await this.db
            .insertInto('chunk_progress')
            .values({ batch_id: batchId, chunk, attempt: token, ...first })
            .onConflict((oc) => oc.columns(['batch_id', 'chunk']).doNothing())
            .executeTakeFirst()
            .then((r) => Number(r.numInsertedOrUpdatedRows ?? 0));
      // Another attempt claimed it between the read and the write: look again.
      if (claimed > 0) return token;
    }
  }

  /**
   * Records a chunk's checkpoint (absolute values, so a retried chunk cannot double count) if `token` still owns the
   * chunk; false when a later claim (or finalize) took it, or the batch's chunk rows are gone.
   */
  async saveChunkProgress(batchId: string, chunk: number, token: number, checkpoint: Checkpoint): Promise<boolean> {
    const result = await this.db
      .updateTable('chunk_progress')
      .set(checkpointColumns(checkpoint))
      .where('batch_id', '=', batchId)
      .where('chunk', '=', chunk)
      .where('attempt', '=', token)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /**
   * Takes every chunk of a batch away from its attempts (finalize does this before it reads them: an attempt still
   * running cannot checkpoint afterwards) and returns what each committed, with the token that committed it.
   */
  async fenceChunks(batchId: string): Promise<Map<number, { owner: number; state: string | null }>> {
    await this.db
      .updateTable('chunk_progress')
      .set((eb) => ({ attempt: eb('attempt', '+', 1) }))
      .where('batch_id', '=', batchId)
      .execute();
    // The fence moved each chunk's token on by one: what is committed is the previous token's.
    const fenced = await this.chunkCheckpoints(batchId);
    for (const committed of fenced.values()) committed.owner -= 1;
    return fenced;
  }

  /**
   * What each chunk of a batch committed so far, with the token that owns it, without taking anything from the
   * attempts (results served while the batch runs). Empty once finalize has cleared the rows.
   */
  async chunkCheckpoints(batchId: string): Promise<Map<number, { owner: number; state: string | null }>> {
    const rows = await this.db
      .selectFrom('chunk_progress')
      .select(['chunk', 'attempt', 'state'])
      .where('batch_id', '=', batchId)
      .execute();
    return new Map(rows.map((r) => [Number(r.chunk), { owner: Number(r.attempt), state: r.state }]));
  }

  /** Records where each chunk's lines sit in the batch's final files (finalize, before the batch ends; idempotent). */
  async saveResultLayout(batchId: string, layout: string): Promise<void> {
    await this.db
      .insertInto('result_layouts')
      .values({ batch_id: batchId, layout })
      .onConflict((oc) => oc.column('batch_id').doUpdateSet({ layout }))
      .execute();
  }

  /** The layout finalize recorded for an ended batch (undefined for batches ended before layouts were recorded). */
  async resultLayout(batchId: string): Promise<string | undefined> {
    const row = await this.db
      .selectFrom('result_layouts')
      .select('layout')
      .where('batch_id', '=', batchId)
      .executeTakeFirst();
    return row?.layout;
  }

  /** Progress summed over a batch's chunks (zero once finalize has cleared them). */
  async chunkProgress(batchId: string): Promise<Progress> {
    return (await this.liveProgress(batchId)) ?? { completed: 0, failed: 0, usage: emptyUsage() };
  }

  /**
   * Progress summed over a batch's chunks, or undefined when it has no chunk rows: none has started yet, or finalize
   * has already moved the final counts onto the batch row and cleared them (in one statement).
   */
  async liveProgress(batchId: string): Promise<Progress | undefined> {
    const rows = await this.progressRows(batchId);
    if (rows.length === 0) return undefined;
    const total: Progress = { completed: 0, failed: 0, usage: emptyUsage() };
    for (const row of rows) {
      total.completed += row.completed;
      total.failed += row.failed;
      addUsage(total.usage, JSON.parse(row.usage) as Usage);
    }
    return total;
  }

  /** Drops a batch's chunk progress once its final counts are on the batch row. */
  async clearChunkProgress(batchId: string): Promise<void> {
    await this.db.deleteFrom('chunk_progress').where('batch_id', '=', batchId).execute();
  }

  /** Counts of batches by status, all owners (metrics). */
  async countByStatus(): Promise<Record<string, number>> {
    const rows = await this.db
      .selectFrom('batches')
      .select(['status', sql<number>`count(*)`.as('n')])
      .groupBy('status')
      .execute();
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
  }
}
