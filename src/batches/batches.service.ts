import { listPage } from '../common/list-page';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { createHash } from 'node:crypto';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { ConflictError, InvalidRequestError, NotFoundError, ServiceUnavailableError } from '../common/errors';
import { newBatchId } from '../common/ids';
import { CANCELLABLE_STATUSES, isFinal, STATUS, type BatchStatus } from '../batch-format/status';
import { newValidatingBatch, type BatchRow, type NewBatch } from '../storage/batch.store';
import { STORAGE } from '../storage/storage.module';
import type { Storage } from '../storage/storage';
import { startBatchWorkflow } from '../temporal/batch-workflow-start';
import { TEMPORAL_CLIENT } from '../temporal/temporal.module';
import { toBatchObject, type BatchObject } from '../batch-format/batch-object';
import type { CreateBatchBody, ListBatchesQuery } from './batches.schemas';
import { nowSeconds } from '../common/clock';

/** Finished batches whose answers are kept in memory (the oldest go first). */
const FINISHED_CACHE_SIZE = 10_000;

/** Create, read, list and cancel batches; the workflow does the work, the store answers reads. */
@Injectable()
export class BatchesService {
  private readonly logger = new Logger('BatchesService');
  /**
   * Answers for finished batches, by id. A finished batch's row never changes (every status change is a
   * compare-and-set from a live status), so this stays true across API processes and needs no invalidation.
   */
  private readonly finished = new Map<string, { owner: string; object: BatchObject }>();
  /**
   * The latest read of each batch that has not ended, shared by the reads within LIVE_READ_MAX_AGE_MS; `ending` once
   * it showed the batch about to end, when it is shared no more.
   */
  private readonly recent = new Map<
    string,
    { owner: string; at: number; object: Promise<BatchObject>; ending: boolean }
  >();

  constructor(
    @Inject(STORAGE) private readonly storage: Storage,
    @Inject(TEMPORAL_CLIENT) private readonly temporal: Client,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** Checks the input file, records the batch as validating and starts its workflow. */
  async create(owner: string, body: CreateBatchBody, idempotencyKey?: string): Promise<BatchObject> {
    const requestHash = createHash('sha256').update(JSON.stringify(body)).digest('hex');
    if (idempotencyKey) {
      const existing = await this.storage.batches.getByIdempotencyKey(owner, idempotencyKey);
      if (existing) return this.replay(existing, requestHash);
    }
    const file = await this.storage.files.get(owner, body.input_file_id);
    if (!file) throw new NotFoundError(`No such File object: ${body.input_file_id}`, 'input_file_id');
    if (file.purpose !== 'batch') {
      throw new InvalidRequestError(
        `File ${file.id} has purpose '${file.purpose}'; a batch input file must be uploaded with purpose 'batch'.`,
        'input_file_id',
      );
    }
    const createdAt = nowSeconds();
    const row = newValidatingBatch({
      id: newBatchId(),
      owner,
      endpoint: body.endpoint,
      input_file_id: file.id,
      completion_window: body.completion_window,
      created_at: createdAt,
      expires_at: createdAt + this.config.COMPLETION_WINDOW_SECONDS,
      metadata: body.metadata ? JSON.stringify(body.metadata) : null,
      output_expires_seconds: body.output_expires_after?.seconds ?? null,
      idempotency_key: idempotencyKey ?? null,
      request_hash: idempotencyKey ? requestHash : null,
    });
    try {
      await this.storage.batches.insert(row);
    } catch (err) {
      // Two creates with one Idempotency-Key raced: the unique index let one through; answer with it.
      const winner = idempotencyKey && (await this.storage.batches.getByIdempotencyKey(owner, idempotencyKey));
      if (winner) return this.replay(winner, requestHash);
      throw err;
    }
    await this.startWorkflow({ ...row, inputBytes: Number(file.bytes) });
    return toBatchObject({ ...row, seq: 0 });
  }

  private async replay(existing: BatchRow, requestHash: string): Promise<BatchObject> {
    if (existing.request_hash !== requestHash) {
      throw new ConflictError(
        'This Idempotency-Key was already used with different parameters; use a new key for a new batch.',
        null,
        'idempotency_key_reused',
      );
    }
    return this.present(existing);
  }

  private async startWorkflow(row: NewBatch & { inputBytes?: number }): Promise<void> {
    try {
      // Already started means the orphan reconciler got there first (this start was slow); the batch is running.
      await startBatchWorkflow(this.temporal.workflow, row, {
        taskQueue: this.config.TEMPORAL_TASK_QUEUE,
        heartbeatTimeoutMs: this.config.CHUNK_HEARTBEAT_TIMEOUT_MS,
      });
    } catch (err) {
      this.logger.error({ err, batchId: row.id }, 'could not start the batch workflow');
      const error = { code: 'server_error', message: 'The batch could not be scheduled.', param: null, line: null };
      await this.storage.batches.transition(row.id, ['validating'], 'failed', {
        failed_at: nowSeconds(),
        errors: JSON.stringify({ object: 'list', data: [error] }),
      });
      throw new ServiceUnavailableError('The batch could not be scheduled; Temporal is unavailable. Try again.');
    }
  }

  /**
   * The owner's batch with live counts. A batch that has not ended is read at most once per LIVE_READ_MAX_AGE_MS in
   * this process (reads arriving meanwhile share that read), so its status and counts may be that much old. A batch
   * about to end (every request answered, or finalizing or cancelling) is read afresh each time: its end shows at
   * the next read.
   */
  async retrieve(owner: string, id: string): Promise<BatchObject> {
    const hit = this.finished.get(id);
    if (hit?.owner === owner) return hit.object;
    const maxAge = this.config.LIVE_READ_MAX_AGE_MS;
    if (maxAge === 0) return this.read(owner, id);
    const recent = this.recent.get(id);
    if (recent?.owner === owner && !recent.ending && performance.now() - recent.at < maxAge) return recent.object;
    const object = this.read(owner, id);
    if (this.recent.size >= FINISHED_CACHE_SIZE) this.recent.delete(this.recent.keys().next().value!);
    const entry = { owner, at: performance.now(), object, ending: false };
    this.recent.set(id, entry);
    object.then(
      (o) => (entry.ending = aboutToEnd(o)),
      () => this.recent.delete(id),
    );
    return object;
  }

  /** Reads the owner's batch from the store; a batch that has ended is kept for every later read. */
  private async read(owner: string, id: string): Promise<BatchObject> {
    const row = await this.getRow(owner, id);
    const object = await this.present(row);
    // Once a batch has left the unfinished statuses, its row no longer changes.
    if (isFinal(row.status)) {
      if (this.finished.size >= FINISHED_CACHE_SIZE) this.finished.delete(this.finished.keys().next().value!);
      this.finished.set(id, { owner, object: Object.freeze(object) });
    }
    return object;
  }

  private async getRow(owner: string, id: string): Promise<BatchRow> {
    const row = await this.storage.batches.get(owner, id);
    if (!row) throw new NotFoundError(`No such Batch: ${id}`, 'batch_id');
    return row;
  }

  private async present(row: BatchRow): Promise<BatchObject> {
    if (!STATUS[row.status as BatchStatus].live) return toBatchObject(row);
    const live = await this.storage.batches.liveProgress(row.id);
    if (live) return toBatchObject(row, live);
    // No chunk rows: none has checkpointed yet, or finalize ended the batch between the two reads (it moves the counts
    // onto the row and clears the chunk rows in that order). Read the row again rather than show 0/0.
    const now = (await this.storage.batches.getById(row.id)) ?? row;
    return toBatchObject(now);
  }

  /** A page of the owner's batches, newest first. */
  async list(owner: string, query: ListBatchesQuery) {
    const { rows, hasMore } = await this.storage.batches.list(owner, query.limit, query.after);
    const data = await Promise.all(rows.map((r) => this.present(r)));
    return listPage(data, hasMore);
  }

  /**
   * Moves a validating or in-progress batch to cancelling and signals its workflow. A batch already cancelling is
   * signalled again: the cancel that wrote the status may have died before its signal went out.
   */
  async cancel(owner: string, id: string): Promise<BatchObject> {
    const row = await this.getRow(owner, id);
    const applied = await this.storage.batches.transition(id, CANCELLABLE_STATUSES, 'cancelling', {
      cancelling_at: nowSeconds(),
    });
    this.recent.delete(id);
    if (applied) {
      await this.signalCancel(id);
      return this.read(owner, id);
    }
    const now = (await this.storage.batches.get(owner, id)) ?? row;
    if (now.status === 'cancelling') await this.signalCancel(id);
    if (now.status === 'cancelling' || now.status === 'cancelled') return this.present(now);
    throw new ConflictError(`Cannot cancel a batch with status '${now.status}'.`, null, 'batch_not_cancellable');
  }

  private async signalCancel(id: string): Promise<void> {
    try {
      await this.temporal.workflow.getHandle(id).signal('cancel');
    } catch (err) {
      // The store already says cancelling, and the workflow reads that at its next transition.
      if (!(err instanceof WorkflowNotFoundError)) throw err;
      this.logger.warn({ batchId: id }, 'cancel: workflow not found');
    }
  }
}

/** A batch whose end is near: every request has its answer, or it is finalizing or cancelling. */
function aboutToEnd(o: BatchObject): boolean {
  if (o.status === 'finalizing' || o.status === 'cancelling') return true;
  const counts = o.request_counts;
  return !!counts && counts.total > 0 && counts.completed + counts.failed >= counts.total;
}
