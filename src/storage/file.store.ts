import type { ExpressionBuilder, Kysely, Selectable } from 'kysely';
import { UNFINISHED_STATUSES } from '../batch-format/status';
import { idLookups } from './prepared';
import type { Database, FileTable } from './schema';

/** A stored file's metadata. */
export type FileRow = Selectable<FileTable>;
/** What is inserted for a new file. */
export type NewFile = Omit<FileRow, 'seq' | 'deleted_at'>;

/** List options, already validated. */
export interface ListFilesQuery {
  purpose?: string;
  limit: number;
  order: 'asc' | 'desc';
  after?: string;
}

/** True for a file that an unfinished batch reads as its input (such a file is kept even once expired). */
const inUseByBatch = (eb: ExpressionBuilder<Database, 'files'>) =>
  eb.exists(
    eb
      .selectFrom('batches')
      .select('batches.id')
      .whereRef('batches.input_file_id', '=', 'files.id')
      .where('batches.status', 'in', UNFINISHED_STATUSES),
  );

/** File metadata rows. Every read is scoped to an owner: another owner's file does not exist. */
export class FileStore {
  private readonly lookups;

  constructor(private readonly db: Kysely<Database>) {
    this.lookups = idLookups(db, 'files');
  }

  /** Inserts a file row; with `ignoreDuplicate` a retried insert of the same id is a no-op. */
  async insert(file: NewFile, ignoreDuplicate = false): Promise<void> {
    let q = this.db.insertInto('files').values(file);
    if (ignoreDuplicate) q = q.onConflict((oc) => oc.column('id').doNothing());
    await q.execute();
  }

  /** The owner's file, or undefined (also for a deleted file an unfinished batch still reads). */
  async get(owner: string, id: string): Promise<FileRow | undefined> {
    const row = (await this.lookups.byOwnerAndId(owner, id))[0];
    return row && row.deleted_at === null ? row : undefined;
  }

  /**
   * Any owner's file by id (worker side, where the batch row already proved ownership), including one deleted while
   * an unfinished batch reads it.
   */
  async getById(id: string): Promise<FileRow | undefined> {
    return (await this.lookups.byId(id))[0];
  }

  /** A page of the owner's files plus whether more follow. `after` names the last id of the previous page. */
  async list(owner: string, query: ListFilesQuery): Promise<{ rows: FileRow[]; hasMore: boolean }> {
    let q = this.db.selectFrom('files').selectAll().where('owner', '=', owner).where('deleted_at', 'is', null);
    if (query.purpose) q = q.where('purpose', '=', query.purpose);
    if (query.after) {
      const cursor = await this.get(owner, query.after);
      if (!cursor) return { rows: [], hasMore: false };
      q = q.where('seq', query.order === 'desc' ? '<' : '>', cursor.seq);
    }
    const rows = await q
      .orderBy('seq', query.order)
      .limit(query.limit + 1)
      .execute();
    return { rows: rows.slice(0, query.limit), hasMore: rows.length > query.limit };
  }

  /**
   * Deletes the owner's file. `removed`: the row is gone and the caller removes the blob. `held`: an unfinished batch
   * reads it, so it is only marked deleted (gone from every owner-facing read at once) and maintenance removes it once
   * that batch has ended. `missing`: no such file. Each is one statement, so a batch that starts reading the file
   * meanwhile either sees it held or never finds it.
   */
  async delete(owner: string, id: string, now: number): Promise<'removed' | 'held' | 'missing'> {
    const removed = await this.db
      .deleteFrom('files')
      .where('owner', '=', owner)
      .where('id', '=', id)
      .where('deleted_at', 'is', null)
      .where((eb) => eb.not(inUseByBatch(eb)))
      .executeTakeFirst();
    if (Number(removed.numDeletedRows) > 0) return 'removed';
    const held = await this.db
      .updateTable('files')
      .set({ deleted_at: now })
      .where('owner', '=', owner)
      .where('id', '=', id)
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
    return Number(held.numUpdatedRows) > 0 ? 'held' : 'missing';
  }

  /**
   * Files expired by `expiredBy` (Unix seconds), or deleted while in use, that no unfinished batch reads, in creation
   * order after `afterSeq`.
   */
  async listExpired(expiredBy: number, afterSeq: number, limit: number): Promise<FileRow[]> {
    return this.db
      .selectFrom('files')
      .selectAll()
      .where((eb) => eb.or([eb('expires_at', '<=', expiredBy), eb('deleted_at', 'is not', null)]))
      .where('seq', '>', afterSeq)
      .where((eb) => eb.not(inUseByBatch(eb)))
      .orderBy('seq')
      .limit(limit)
      .execute();
  }

  /**
   * Deletes a file row if it is still expired by `expiredBy` (or deleted while in use) and no unfinished batch reads it, in one statement, so a
   * batch created from the file after it was listed keeps it. True when the row was removed.
   */
  async deleteExpired(id: string, expiredBy: number): Promise<boolean> {
    const result = await this.db
      .deleteFrom('files')
      .where('id', '=', id)
      .where((eb) => eb.or([eb('expires_at', '<=', expiredBy), eb('deleted_at', 'is not', null)]))
      .where((eb) => eb.not(inUseByBatch(eb)))
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }
}
