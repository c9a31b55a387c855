import { Context, log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { derivedFileId } from '../src/common/ids';
import { isFinal, STATUS, type BatchStatus } from '../src/batch-format/status';
import { addUsage, emptyUsage } from '../src/batch-format/usage';
import type { BatchRow } from '../src/storage/batch.store';
import { nowSeconds } from '../src/common/clock';
import { partsOf, type ChunkState } from '../src/batch-format/chunk-state';
import { layoutOf } from '../src/batch-format/result-layout';
import { fenceAndReadChunks } from './chunk-checkpoints';
import { loadChunkIndex } from '../src/storage/committed-chunks';
import { batchKeys, type ChunkIndex, type ChunkSpec } from '../src/batch-format/blob-layout';
import type { ActivityDeps } from './deps';
import { isBlank, readLines, stripBom } from '../src/batch-format/jsonl-lines';
import { errorLine } from '../src/batch-format/result-line';
import type { FinalizeInput, FinalizeResult } from './types';

/** Output and error files live 30 days unless the batch asked otherwise. */
const DEFAULT_OUTPUT_TTL_SECONDS = 30 * 24 * 3600;

/** The status each outcome ends in, and the status it ends from. */
const END: Record<FinalizeInput['outcome'], { from: BatchStatus[]; to: BatchStatus }> = {
  completed: { from: ['finalizing'], to: 'completed' },
  expired: { from: ['finalizing'], to: 'expired' },
  cancelled: { from: ['cancelling'], to: 'cancelled' },
};

/** The error line each unfinished request gets, by how the batch ends. */
const UNFINISHED: Record<FinalizeInput['outcome'], { code: string; message: string }> = {
  // Every chunk ran to its end, except one that failed for good (its index or input gone): its requests count failed.
  completed: {
    code: 'chunk_failed',
    message:
      "This request was not run: its chunk failed for good (the batch workflow's history has the chunk's failure).",
  },
  expired: {
    code: 'batch_expired',
    message: 'This request could not be executed before the completion window expired.',
  },
  cancelled: { code: 'batch_cancelled', message: 'This request was not executed because the batch was cancelled.' },
};

/** The `errors` entry of a batch that ended before its input file was validated (its lines are unknown). */
const NOT_VALIDATED: Partial<Record<FinalizeInput['outcome'], { code: string; message: string }>> = {
  expired: { code: 'batch_expired', message: 'The completion window ended before the input file was validated.' },
  cancelled: { code: 'batch_cancelled', message: 'The batch was cancelled before its input file was validated.' },
};

/** A stable line id for a synthesized error line, so a retried finalize writes identical bytes. */
const syntheticId = (batchId: string, ordinal: string): string =>
  `batch_req_${createHash('sha256').update(`${batchId}:${ordinal}`).digest('base64url').slice(0, 24)}`;

/**
 * Builds the finalize activity: joins part files into the output and error files and writes the end status. It may
 * run again after its work committed: a run that finds the end status written only finishes the clean-up.
 */
export function makeFinalize(deps: ActivityDeps) {
  return async function finalize(input: FinalizeInput): Promise<FinalizeResult> {
    const { batchId } = input;
    let outcome = input.outcome;
    let batch = await deps.batches.getById(batchId);
    if (!batch) throw ApplicationFailure.create({ type: 'BatchNotFound', message: batchId, nonRetryable: true });
    if (input.enterFinalizing && batch.status === 'in_progress') {
      // The move to finalizing, in this activity: from here a cancel is refused. A cancel that reached the store first
      // wins, and the batch ends cancelled.
      await deps.batches.transition(batchId, ['in_progress'], 'finalizing', { finalizing_at: nowSeconds() });
      batch = (await deps.batches.getById(batchId))!;
    }
    if (input.enterFinalizing && batch.status === 'cancelling') outcome = 'cancelled';
    const end = END[outcome];
    const keys = batchKeys(batchId);
    const cleanUp = async () => {
      await deps.batches.clearChunkProgress(batchId);
      await deps.blobs.delete(keys.dir);
    };
    // Already ended (this finalize ran before, or another actor ended the batch): only the clean-up may be left.
    if (isFinal(batch.status)) {
      await cleanUp();
      return summary(batch, 0);
    }
    const index = await loadChunkIndex(deps.blobs, batchId);
    // Every chunk is taken from its attempts before it is read: an attempt still running (its cancel pending, its
    // heartbeat timed out) can commit nothing more, so what is read here is final.
    const states = await fenceAndReadChunks(deps, batchId, index);
    // Where each chunk's lines will sit in the files, recorded before the batch ends: a client reading results while
    // the batch ran is served the rest from the final files (src/results/).
    if (index) await deps.batches.saveResultLayout(batchId, JSON.stringify(layoutOf(states)));
    const unfinished = { n: 0 };
    // Heartbeats as the files stream (the SDK throttles them), so a worker lost mid-finalize is noticed quickly.
    const ctx = Context.current();
    // A local activity (a small batch's finalize) has no heartbeat.
    const beat = ctx.info.isLocal ? () => undefined : () => ctx.heartbeat();
    const outputFileId = await writeResultFile(
      deps,
      batch,
      'output',
      partStreams(deps, index, states, keys.out, 'outBytes', beat),
    );
    // No error part has bytes and every request has a result: the error file would be empty, so none is written.
    const errorFileId = hasErrorLines(index, states)
      ? await writeResultFile(
          deps,
          batch,
          'error',
          Readable.from(errorLines(deps, batchId, index, states, keys.err, UNFINISHED[outcome], unfinished, beat)),
        )
      : null;
    const usage = emptyUsage();
    for (const s of states) addUsage(usage, s.usage);
    // Requests of a chunk that failed for good ran into an error of their own: they count failed.
    const chunkFailed = outcome === 'completed' ? unfinished.n : 0;
    const notValidated = index ? undefined : NOT_VALIDATED[outcome];
    const applied = await deps.batches.transition(batchId, end.from, end.to, {
      [STATUS[end.to].stamp!]: nowSeconds(),
      output_file_id: outputFileId,
      error_file_id: errorFileId,
      completed: states.reduce((n, s) => n + s.completed, 0),
      failed: states.reduce((n, s) => n + s.failed, 0) + chunkFailed,
      usage: JSON.stringify(usage),
      // A batch cancelled while validating never entered in_progress, where these are set; its lines still count.
      ...(index ? { total: index.chunks.reduce((n, c) => n + c.count, 0) } : {}),
      ...(index?.model ? { model: index.model } : {}),
      ...(notValidated
        ? { errors: JSON.stringify({ object: 'list', data: [{ ...notValidated, param: null, line: null }] }) }
        : {}),
    });
    const after = (await deps.batches.getById(batchId))!;
    if (!applied && after.status !== end.to) {
      throw ApplicationFailure.create({
        type: 'UnexpectedStatus',
        message: `finalize(${outcome}) found ${batchId} in status ${after.status}`,
        nonRetryable: true,
      });
    }
    await cleanUp();
    log.info('finalized', {
      status: after.status,
      completed: after.completed,
      failed: after.failed,
      unfinished: unfinished.n,
      outputFileId,
      errorFileId,
    });
    return summary(after, unfinished.n);
  };
}

function summary(batch: BatchRow, unfinished: number): FinalizeResult {
  return { status: batch.status as BatchStatus, completed: batch.completed, failed: batch.failed, unfinished };
}

/**
 * How much of a part file one read takes while finalize joins them: a batch's output is copied whole, and 1 MiB reads
 * copy it in a fraction of the time 64 KiB ones take (each read is a trip through libuv's thread pool).
 */
const PART_READ_BYTES = 1 << 20;

/** Concatenates the checkpointed prefix of each chunk's part file. */
function partStreams(
  deps: ActivityDeps,
  index: ChunkIndex | undefined,
  states: ChunkState[],
  key: (chunk: number, attempt: number) => string,
  field: 'outBytes' | 'errBytes',
  beat: () => void,
): Readable {
  async function* parts() {
    for (let i = 0; i < (index?.chunks.length ?? 0); i++) {
      for (const part of partsOf(states[i])) {
        beat();
        if (part[field] > 0)
          yield* deps.blobs.read(key(i, part.attempt), { start: 0, end: part[field] }, PART_READ_BYTES);
      }
    }
  }
  return Readable.from(parts());
}

/** Whether some of the chunk's requests have no result (each gets a synthesized error line). */
const hasUnfinished = (spec: ChunkSpec, state: ChunkState): boolean => state.done.length < spec.count;

/** Whether the error file has any line: an error part with bytes, or a request without a result. */
function hasErrorLines(index: ChunkIndex | undefined, states: ChunkState[]): boolean {
  if (!index) return false;
  return index.chunks.some(
    (spec, i) => hasUnfinished(spec, states[i]) || partsOf(states[i]).some((part) => part.errBytes > 0),
  );
}

/** Error part files, then one synthesized line for every request that never got a final answer. */
async function* errorLines(
  deps: ActivityDeps,
  batchId: string,
  index: ChunkIndex | undefined,
  states: ChunkState[],
  key: (chunk: number, attempt: number) => string,
  reason: { code: string; message: string },
  unfinished: { n: number },
  beat: () => void,
): AsyncGenerator<Buffer> {
  if (!index) return;
  yield* partStreams(deps, index, states, key, 'errBytes', beat);
  for (let i = 0; i < index.chunks.length; i++) {
    const spec = index.chunks[i];
    if (!hasUnfinished(spec, states[i])) continue;
    const done = new Set(states[i].done);
    let ordinal = -1;
    for await (const line of readLines(deps.blobs.read(index.inputBlobKey, spec), spec.start, spec.firstLine)) {
      const bytes = stripBom(line);
      if (isBlank(bytes)) continue;
      ordinal++;
      if (done.has(ordinal)) continue;
      const { custom_id } = JSON.parse(bytes.toString('utf8')) as { custom_id: string };
      if (++unfinished.n % 1000 === 0) beat();
      yield Buffer.from(errorLine(syntheticId(batchId, `${i}:${ordinal}`), custom_id, reason.code, reason.message));
    }
  }
}

/** Streams a result file into the blob store and records it; null (and nothing stored) when it is empty. */
async function writeResultFile(
  deps: ActivityDeps,
  batch: BatchRow,
  kind: 'output' | 'error',
  source: Readable,
): Promise<string | null> {
  const id = derivedFileId(`${batch.id}:${kind}`);
  const blobKey = `files/${id}`;
  const bytes = await deps.blobs.write(blobKey, source);
  if (bytes === 0) {
    await deps.blobs.delete(blobKey);
    return null;
  }
  const createdAt = Math.floor(Date.now() / 1000);
  const ttl = batch.output_expires_seconds ?? DEFAULT_OUTPUT_TTL_SECONDS;
  await deps.files.insert(
    {
      id,
      owner: batch.owner,
      purpose: 'batch_output',
      filename: `${batch.id}_${kind}.jsonl`,
      bytes,
      created_at: createdAt,
      expires_at: createdAt + ttl,
      blob_key: blobKey,
    },
    true,
  );
  return id;
}
