import { Inject, Injectable } from '@nestjs/common';
import { Readable } from 'node:stream';
import type { BatchObject } from '../batch-format/batch-object';
import { isBlank, readLines, stripBom } from '../batch-format/jsonl-lines';
import { nowSeconds } from '../common/clock';
import { ConflictError, InvalidRequestError, NotFoundError } from '../common/errors';
import { newFileId } from '../common/ids';
import { STORAGE } from '../storage/storage.module';
import type { Storage } from '../storage/storage';
import type { RerunBatchBody } from './batches.schemas';
import { BatchesService } from './batches.service';

/** The statuses a batch can be rerun from: it has ended with its files written. */
const RERUNNABLE = new Set(['completed', 'expired', 'cancelled']);
/** Error codes of requests that never ran (`lines: "unfinished"` picks only these). */
const NEVER_RAN = new Set(['batch_expired', 'batch_cancelled']);
/** A rerun's input file lives as long as an uploaded one. */
const INPUT_TTL_SECONDS = 30 * 24 * 3600;

/**
 * `POST /v1/batches/{id}/rerun` (an extension): a new batch of exactly the input lines of an ended batch whose result is
 * in its error file, byte for byte, with the same endpoint and window. Nothing is re-submitted by hand.
 */
@Injectable()
export class RerunService {
  constructor(
    @Inject(STORAGE) private readonly storage: Storage,
    private readonly batches: BatchesService,
  ) {}

  /** Creates the rerun batch and answers it as `POST /v1/batches` would. */
  async rerun(owner: string, id: string, body: RerunBatchBody): Promise<BatchObject> {
    const batch = await this.storage.batches.get(owner, id);
    if (!batch) throw new NotFoundError(`No such Batch: ${id}`, 'batch_id');
    if (!RERUNNABLE.has(batch.status)) {
      throw new ConflictError(
        `Only a completed, expired or cancelled batch can be rerun; ${id} is '${batch.status}'.`,
        null,
        'batch_not_rerunnable',
      );
    }
    const metadata = { ...(body.metadata ?? {}), rerun_of: id };
    if (Object.keys(metadata).length > 16) {
      throw new InvalidRequestError('metadata may have at most 15 keys here: rerun_of is added.', 'metadata');
    }
    const selected = await this.selectedIds(batch.error_file_id, body.lines);
    if (selected.size === 0) {
      throw new InvalidRequestError(
        `Batch ${id} has no ${body.lines === 'failed' ? 'failed' : 'unfinished'} lines to rerun.`,
        'lines',
        'no_lines_to_rerun',
      );
    }
    const input = await this.storage.files.getById(batch.input_file_id);
    if (!input) {
      throw new ConflictError(
        `The input file ${batch.input_file_id} of ${id} is gone (expired or deleted), so its lines cannot be rerun.`,
        'input_file_id',
        'input_file_gone',
      );
    }
    const fileId = await this.writeInput(owner, id, body.lines, input.blob_key, selected);
    return this.batches.create(owner, {
      input_file_id: fileId,
      endpoint: batch.endpoint as never,
      completion_window: batch.completion_window as '24h',
      metadata,
      output_expires_after: batch.output_expires_seconds
        ? { anchor: 'created_at', seconds: Number(batch.output_expires_seconds) }
        : undefined,
    });
  }

  /** The custom_ids the selection picks from the batch's error file. */
  private async selectedIds(errorFileId: string | null, lines: 'failed' | 'unfinished'): Promise<Set<string>> {
    const ids = new Set<string>();
    const file = errorFileId ? await this.storage.files.getById(errorFileId) : undefined;
    if (!file) return ids;
    for await (const line of readLines(this.storage.blobs.read(file.blob_key))) {
      if (isBlank(line.bytes)) continue;
      const result = JSON.parse(line.bytes.toString('utf8')) as { custom_id: string; error: { code: string } | null };
      if (lines === 'failed' || NEVER_RAN.has(result.error?.code ?? '')) ids.add(result.custom_id);
    }
    return ids;
  }

  /** Writes the selected lines of the original input, as they were, into a new batch input file of the owner. */
  private async writeInput(
    owner: string,
    batchId: string,
    lines: string,
    inputKey: string,
    selected: Set<string>,
  ): Promise<string> {
    const blobs = this.storage.blobs;
    async function* chosen(): AsyncGenerator<Buffer> {
      for await (const line of readLines(blobs.read(inputKey))) {
        const bytes = stripBom(line);
        if (isBlank(bytes)) continue;
        const { custom_id } = JSON.parse(bytes.toString('utf8')) as { custom_id: string };
        if (selected.has(custom_id)) yield Buffer.concat([bytes, Buffer.from('\n')]);
      }
    }
    const id = newFileId();
    const blobKey = `files/${id}`;
    const bytes = await blobs.write(blobKey, Readable.from(chosen()));
    const createdAt = nowSeconds();
    try {
      await this.storage.files.insert({
        id,
        owner,
        purpose: 'batch',
        filename: `${batchId}_rerun_${lines}.jsonl`,
        bytes,
        created_at: createdAt,
        expires_at: createdAt + INPUT_TTL_SECONDS,
        blob_key: blobKey,
      });
    } catch (err) {
      await blobs.delete(blobKey);
      throw err;
    }
    return id;
  }
}
