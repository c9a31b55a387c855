import { setMaxListeners } from 'node:events';
import type { ChunkSpec } from '../src/batch-format/blob-layout';
import type { ChunkWriter } from '../src/batch-format/chunk-state';
import { quote, type RequestLine } from '../src/batch-format/input-line';
import { isBlank, readLineBatches, stripBom } from '../src/batch-format/jsonl-lines';
import { rawRequest, type RawRequest } from '../src/batch-format/raw-body';
import { errorLine, resultLine } from '../src/batch-format/result-line';
import { newBatchRequestId, newRequestId } from '../src/common/ids';
import type { UpstreamAnswer } from '../src/upstream/answer';
import { LimiterAbortError } from '../src/upstream/concurrency-limiter';
import { UpstreamAbortedError, type UpstreamClient } from '../src/upstream/upstream-client';
import type { ActivityDeps } from './deps';

/**
 * One request of the chunk, read and admitted, ready to send. It keeps what its result line and retries need, not
 * the line: a request in flight is copied by every young-generation collection it lives through.
 */
interface PreparedRequest {
  customId: string;
  url: string;
  /** The line's `body` text, sent as it is. */
  body: string;
  /** Tokens reserved against the upstream's tokens-per-minute budget (0 without one). */
  estimatedTokens: number;
  model: string | null;
  /** Its place among the chunk's requests (what the checkpoint's done set holds). */
  ordinal: number;
  upstream: UpstreamClient;
  /** Gives the request's admission back (once; also before each backoff). */
  leave: () => void;
}

/**
 * The requests of one chunk attempt: reads them from the chunk's byte range, sends each upstream and hands its
 * result line to the chunk's writer. Callbacks rather than promises per request (see UpstreamClient.sendWith);
 * requests in flight are counted, and {@link sendAll} returns once every one has ended.
 */
export class ChunkRequests {
  private active = 0;
  private idle: (() => void) | undefined;
  private failure: { error: unknown } | undefined;
  /**
   * Every request of the chunk listens on this one signal while it is in flight (the admission keeps that to at
   * most twice the upstream's concurrency), so a cancel reaches them all without a controller per request.
   */
  private readonly stop = new AbortController();

  constructor(
    private readonly deps: ActivityDeps,
    private readonly batchId: string,
    /** The batch's owner: the upstream serves owners by weight, then their batches round-robin. */
    private readonly owner: string,
    private readonly writer: ChunkWriter,
  ) {
    setMaxListeners(0, this.stop.signal);
  }

  /**
   * Sends every request of `spec` whose ordinal is not in `done`, until they all have a result or `signal` stops the
   * chunk (requests then in flight are aborted and stay unfinished). Rethrows the first failure.
   */
  async sendAll(signal: AbortSignal, inputKey: string, spec: ChunkSpec, done: Set<number>): Promise<void> {
    const abortAll = () => this.stop.abort();
    signal.addEventListener('abort', abortAll, { once: true });
    try {
      let ordinal = -1;
      // A stream chunk's lines at a time: a line whose admission is free costs no wait at all.
      const batches = readLineBatches(this.deps.blobs.read(inputKey, spec), spec.start, spec.firstLine);
      reading: for await (const lines of batches) {
        for (const raw of lines) {
          const bytes = stripBom(raw);
          if (isBlank(bytes)) continue;
          ordinal++;
          if (done.has(ordinal)) continue;
          if (signal.aborted || this.failure) break reading;
          const { customId, url, body, model } = requestOf(bytes.toString('utf8'));
          const upstream = this.deps.router.forModel(model);
          if (!upstream) {
            // Validation refuses unroutable models, so only a routing file changed since then gets here: the request
            // cannot run, and says so in its error line rather than stranding the chunk (and the batch) for good.
            const message = `No upstream is configured for model '${quote(model ?? '')}' (the routing changed after validation).`;
            this.writer.record(ordinal, {
              text: errorLine(newBatchRequestId(), customId, 'model_not_found', message),
              ok: false,
            });
            continue;
          }
          // Admission bounds what every chunk in this process has prepared for the upstream (and serves batches
          // round-robin, owners by weight first): a chunk waits here rather than holding a window of parsed requests of
          // its own.
          if (!upstream.tryAdmit(this.owner)) {
            try {
              await upstream.admit(signal, this.batchId, this.owner);
            } catch (err) {
              if (!(err instanceof LimiterAbortError)) this.fail(err);
              break reading;
            }
            // Cancelled while waiting for admission: nothing more is sent.
            if (signal.aborted) {
              upstream.leave(this.owner);
              break reading;
            }
          }
          // A request waiting out a backoff gives its admission back (it needs only a concurrency slot to try
          // again), so a batch whose requests keep failing cannot hold the admission other batches wait for.
          let admitted = true;
          const leave = () => {
            if (admitted) upstream.leave(this.owner);
            admitted = false;
          };
          // Only a tokens-per-minute budget needs the estimate (and the parsed body it is made from).
          const estimatedTokens = upstream.limitsTokens ? estimateTokens(JSON.parse(body), body.length) : 0;
          this.send({
            customId,
            url,
            body,
            estimatedTokens,
            model,
            ordinal,
            upstream,
            leave,
          });
        }
      }
    } catch (err) {
      // The input could not be read: stop what is in flight (it is sent again on retry) before failing.
      this.fail(err);
      abortAll();
    }
    while (this.active > 0) await new Promise<void>((resolve) => (this.idle = resolve));
    if (this.failure) throw this.failure.error;
  }

  /** Records a failure for sendAll to rethrow (the first one wins). */
  private fail(error: unknown): void {
    this.failure ??= { error };
  }

  /** Sends one request and records its result line when the answer is final. */
  private send(r: PreparedRequest): void {
    const estimatedTokens = r.estimatedTokens;
    const options = { key: this.batchId, owner: this.owner, estimatedTokens, model: r.model ?? '', onBackoff: r.leave };
    let over = false;
    const finish = (err: unknown, answer?: UpstreamAnswer) => {
      if (over) return;
      over = true;
      // Called from inside undici's handling of the answer, which swallows what its handler throws: nothing may
      // escape here, and the request is counted out whatever happens.
      try {
        r.leave();
        if (answer) {
          const line = resultLine(newBatchRequestId(), r.customId, answer, newRequestId);
          r.upstream.settle(r.model ?? '', line.ok, estimatedTokens, line.usage);
          this.writer.record(r.ordinal, line);
        } else if (!(err instanceof UpstreamAbortedError)) {
          // An aborted request has no result; it stays unfinished and gets its cancel/expiry line at finalize.
          this.fail(err);
        }
      } catch (e) {
        this.fail(e);
      } finally {
        if (--this.active === 0) this.idle?.();
      }
    };
    this.active++;
    try {
      r.upstream.sendWith(r.url, r.body, this.stop.signal, options, finish);
    } catch (err) {
      // Nothing throws here today; if it did, the chunk must still drain rather than wait for this request forever.
      finish(err);
    }
  }
}

/**
 * What sending needs from a line: read from its text without parsing it (see rawRequest), or, for a line that does not
 * read so (validation has made sure it parses), from the parsed line with its body re-serialized.
 */
function requestOf(text: string): RawRequest {
  const raw = rawRequest(text);
  if (raw) return raw;
  const line = JSON.parse(text) as RequestLine;
  const model = typeof line.body.model === 'string' ? line.body.model : null;
  return { customId: line.custom_id, url: line.url, body: JSON.stringify(line.body), model };
}

/** A rough token estimate reserved against tokens-per-minute before sending (settled with real usage after). */
function estimateTokens(body: Record<string, unknown>, bytes: number): number {
  const max = [body.max_tokens, body.max_completion_tokens, body.max_output_tokens].find((v) => typeof v === 'number');
  return Math.ceil(bytes / 4) + ((max as number | undefined) ?? 0);
}
