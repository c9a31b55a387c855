import { Context, log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { ChunkWriter, type ChunkState } from '../src/batch-format/chunk-state';
import { claimChunk, saveCheckpoint } from './chunk-checkpoints';
import { loadChunkIndex } from '../src/storage/committed-chunks';
import { batchKeys } from '../src/batch-format/blob-layout';
import { ChunkRequests } from './chunk-requests';
import type { ActivityDeps } from './deps';
import type { ProcessChunkInput, ProcessChunkResult } from './types';

/** Builds the processChunk activity: sends a chunk's unfinished requests and checkpoints their results. */
export function makeProcessChunk(deps: ActivityDeps) {
  return async function processChunk({ batchId, chunk }: ProcessChunkInput): Promise<ProcessChunkResult> {
    const ctx = Context.current();
    const index = await loadChunkIndex(deps.blobs, batchId);
    const spec = index?.chunks[chunk];
    if (!index || !spec) {
      throw ApplicationFailure.create({ type: 'ChunkNotFound', message: `${batchId}#${chunk}`, nonRetryable: true });
    }
    const keys = batchKeys(batchId);
    // Claim the chunk before sending anything: the claim takes a fencing token from the metadata store and stores this
    // attempt's first checkpoint in one compare-and-set. An earlier attempt that may still be running (Temporal gave
    // up on it, or an operator reset it) is refused from then on and stops; its own files are never read past the
    // lengths frozen here.
    const { token, state } = await claimChunk(deps, batchId, chunk);
    // The owner, read once per chunk: the upstream shares its concurrency between owners by weight.
    const owner = (await deps.batches.getById(batchId))?.owner ?? '';
    const stop = new AbortController();
    const superseded = () => {
      stop.abort();
      return ApplicationFailure.create({ type: 'ChunkSuperseded', message: `attempt with token ${token} superseded` });
    };
    const persist = async (s: ChunkState) => {
      if (!(await saveCheckpoint(deps, batchId, chunk, token, s))) throw superseded();
    };
    if (state.done.length > 0 || token > 1) {
      log.info('chunk resumes from its checkpoint', { chunk, token, done: state.done.length, of: spec.count });
    }
    // This attempt's own part files, empty; the earlier attempts' stay as their last checkpoint left them.
    const outFile = await deps.blobs.openAppend(keys.out(chunk, token), 0);
    const errFile = await deps.blobs.openAppend(keys.err(chunk, token), 0);
    ctx.cancellationSignal.addEventListener('abort', () => stop.abort(), { once: true });
    const writer = new ChunkWriter(state, outFile, errFile, persist);
    // Heartbeat on every tick, whether or not the checkpoint succeeds: a store that is briefly locked must not
    // make Temporal think the worker died and start a second attempt of this chunk.
    // The heartbeat says, in the Web UI's pending activities, how far the chunk is and what it waits on.
    const upstream = deps.router.forModel(index.model ?? null);
    const progressText = () =>
      `chunk ${chunk + 1} of ${index.chunks.length}: ${writer.committed.done.length} of ${spec.count} done` +
      (upstream ? `; upstream ${upstream.name}: ${upstream.describeState()}` : '');
    const ticker = setInterval(() => {
      ctx.heartbeat(progressText());
      writer.checkpoint().catch(() => undefined); // retried at the next tick; the final one surfaces it
    }, deps.settings.checkpointIntervalMs);
    try {
      await new ChunkRequests(deps, batchId, owner, writer).sendAll(
        stop.signal,
        index.inputBlobKey,
        spec,
        new Set(state.done),
      );
      await writer.checkpoint();
    } catch (err) {
      // Whatever stopped the chunk, what it finished is committed before the error goes to Temporal (a retry resumes
      // from here); a checkpoint that cannot be written either leaves the retry to resume from the one before.
      await writer.checkpoint().catch(() => undefined);
      throw err;
    } finally {
      clearInterval(ticker);
      await outFile.close();
      await errFile.close();
    }
    // Cancelled (batch cancel or expiry): the committed results stay; rethrow so the workflow sees it.
    if (ctx.cancellationSignal.aborted) {
      log.info('chunk stopped by cancel or expiry', { chunk, done: writer.committed.done.length, of: spec.count });
      await ctx.cancelled;
    }
    log.debug('chunk done', { chunk, completed: writer.committed.completed, failed: writer.committed.failed });
    return { completed: writer.committed.completed, failed: writer.committed.failed };
  };
}
