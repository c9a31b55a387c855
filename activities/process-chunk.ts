import { Context, log } from '@temporalio/activity';
import { setMaxListeners } from 'node:events';
import { ApplicationFailure } from '@temporalio/common';
import { newBatchRequestId, newRequestId } from '../src/common/ids';
import {
  ChunkWriter,
  checkpointOf,
  committedState,
  emptyChunkState,
  loadChunkIndex,
  startAttempt,
  type ChunkState,
} from './chunk-state';
import { batchKeys, type ActivityDeps, type ChunkSpec } from './deps';
import { isBlank, readLineBatches, stripBom } from './jsonl-lines';
import { rawBody } from './raw-body';
import { errorLine, resultLine } from './result-line';
import { quote, type RequestLine } from './input-line';
import type { ProcessChunkInput, ProcessChunkResult } from './types';
import { LimiterAbortError } from './concurrency-limiter';
import { UpstreamAbortedError, type UpstreamClient, type UpstreamResult } from './upstream-client';

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
    let state = emptyChunkState();
    const token = await deps.batches.claimChunk(batchId, chunk, async (previous, next) => {
      state = await committedState(deps.blobs, batchId, chunk, previous);
      startAttempt(state, next);
      return checkpointOf(state);
    });
    const stop = new AbortController();
    const superseded = () => {
      stop.abort();
      return ApplicationFailure.create({ type: 'ChunkSuperseded', message: `attempt with token ${token} superseded` });
    };
    const persist = async (s: ChunkState) => {
      if (!(await deps.batches.saveChunkProgress(batchId, chunk, token, checkpointOf(s)))) throw superseded();
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
      await sendAll(deps, batchId, stop.signal, index.inputBlobKey, spec, new Set(state.done), writer);
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

async function sendAll(
  deps: ActivityDeps,
  batchId: string,
  signal: AbortSignal,
  inputKey: string,
  spec: ChunkSpec,
  done: Set<number>,
  writer: ChunkWriter,
): Promise<void> {
  // Every request of the chunk listens on one signal while it is in flight (the admission keeps that to at most
  // twice the upstream's concurrency), so a cancel reaches them all without a controller per request.
  const stop = new AbortController();
  const requests = new TaskGroup();
  const abortAll = () => stop.abort();
  signal.addEventListener('abort', abortAll, { once: true });
  setMaxListeners(0, stop.signal);
  try {
    let ordinal = -1;
    // A stream chunk's lines at a time: a line whose admission is free costs no wait at all.
    const batches = readLineBatches(deps.blobs.read(inputKey, spec), spec.start, spec.firstLine);
    reading: for await (const lines of batches) {
      for (const line of lines) {
        const bytes = stripBom(line);
        if (isBlank(bytes)) continue;
        ordinal++;
        if (done.has(ordinal)) continue;
        if (signal.aborted || requests.failed) break reading;
        const text = bytes.toString('utf8');
        const request = JSON.parse(text) as RequestLine;
        const model = typeof request.body.model === 'string' ? request.body.model : null;
        const upstream = deps.router.forModel(model);
        if (!upstream) {
          // Validation refuses unroutable models, so only a routing file changed since then gets here: the request
          // cannot run, and says so in its error line rather than stranding the chunk (and the batch) for good.
          const message = `No upstream is configured for model '${quote(model ?? '')}' (the routing changed after validation).`;
          writer.record(ordinal, {
            text: errorLine(newBatchRequestId(), request.custom_id, 'model_not_found', message),
            ok: false,
          });
          continue;
        }
        // Admission bounds what every chunk in this process has prepared for the upstream (and serves batches
        // round-robin): a chunk waits here rather than holding a window of parsed requests of its own.
        if (!upstream.admission.tryAcquire()) {
          try {
            await upstream.admission.acquire(signal, batchId);
          } catch (err) {
            if (!(err instanceof LimiterAbortError)) requests.fail(err);
            break reading;
          }
          // Cancelled while waiting for admission: nothing more is sent.
          if (signal.aborted) {
            upstream.admission.release();
            break reading;
          }
        }
        // A request waiting out a backoff gives its admission back (it needs only a concurrency slot to try
        // again), so a batch whose requests keep failing cannot hold the admission other batches wait for.
        let admitted = true;
        const leave = () => {
          if (admitted) upstream.admission.release();
          admitted = false;
        };
        // The body goes upstream as the line has it, not re-serialized from the parsed object.
        const body = rawBody(text) ?? JSON.stringify(request.body);
        sendOne(batchId, upstream, request, body, model, ordinal, stop.signal, writer, leave, requests);
      }
    }
  } catch (err) {
    // The input could not be read: stop what is in flight (it is sent again on retry) before failing.
    requests.fail(err);
    abortAll();
  }
  await requests.drain();
}

/** Counts tasks started without waiting for them; `drain` waits for all, then rethrows the first failure. */
class TaskGroup {
  private active = 0;
  private idle: (() => void) | undefined;
  private failure: { error: unknown } | undefined;

  /** True once a task has failed. */
  get failed(): boolean {
    return this.failure !== undefined;
  }

  /** A task starts; it calls `end` once it is over, whatever happened. */
  begin(): void {
    this.active++;
  }

  end(): void {
    if (--this.active === 0) this.idle?.();
  }

  /** Records a failure for `drain` to rethrow (the first one wins). */
  fail(error: unknown): void {
    this.failure ??= { error };
  }

  async drain(): Promise<void> {
    while (this.active > 0) await new Promise<void>((resolve) => (this.idle = resolve));
    if (this.failure) throw this.failure.error;
  }
}

/** A rough token estimate reserved against tokens-per-minute before sending (settled with real usage after). */
function estimateTokens(body: Record<string, unknown>, bytes: number): number {
  const max = [body.max_tokens, body.max_completion_tokens, body.max_output_tokens].find((v) => typeof v === 'number');
  return Math.ceil(bytes / 4) + ((max as number | undefined) ?? 0);
}

/**
 * Sends one request and records its result line when the answer is final. Callbacks rather than promises: see
 * UpstreamClient.sendWith. `leave` gives the request's admission back (also called before each backoff).
 */
function sendOne(
  batchId: string,
  upstream: UpstreamClient,
  request: RequestLine,
  body: string,
  model: string | null,
  ordinal: number,
  signal: AbortSignal,
  writer: ChunkWriter,
  leave: () => void,
  requests: TaskGroup,
): void {
  const estimatedTokens = estimateTokens(request.body, body.length);
  const options = { key: batchId, estimatedTokens, model: model ?? '', onBackoff: leave };
  let over = false;
  const finish = (err: unknown, result?: UpstreamResult) => {
    if (over) return;
    over = true;
    // Called from inside undici's handling of the answer, which swallows what its handler throws: nothing may
    // escape here, and the request is counted out whatever happens.
    try {
      leave();
      if (result) {
        const line = resultLine(newBatchRequestId(), request.custom_id, result, newRequestId);
        upstream.settle(model ?? '', line.ok, estimatedTokens, line.usage);
        writer.record(ordinal, line);
      } else if (!(err instanceof UpstreamAbortedError)) {
        // An aborted request has no result; it stays unfinished and gets its cancel/expiry line at finalize.
        requests.fail(err);
      }
    } catch (e) {
      requests.fail(e);
    } finally {
      requests.end();
    }
  };
  requests.begin();
  try {
    upstream.sendWith(request.url, body, signal, options, finish);
  } catch (err) {
    // Nothing throws here today; if it did, the chunk must still drain rather than wait for this request forever.
    finish(err);
  }
}
