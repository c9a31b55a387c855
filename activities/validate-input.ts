import { Context, log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { batchKeys, type ChunkIndex, type ChunkSpec } from '../src/batch-format/blob-layout';
import type { ActivityDeps } from './deps';
import { checkLine, embeddingInputs, parseLine, quote, type LineError } from '../src/batch-format/input-line';
import { isBlank, readLineBatches, stripBom } from '../src/batch-format/jsonl-lines';
import { estimatePromptTokens } from '../src/batch-format/prompt-tokens';
import type { BatchStatus } from '../src/batch-format/status';
import type { BatchRow } from '../src/storage/batch.store';
import { hasLimits, limitErrors, type Enqueued } from '../src/tenants/limits';
import { makeTransition } from './transition';
import type { ValidateInputInput, ValidateInputResult } from './types';

/** At most this many errors are reported, ... */
const MAX_REPORTED_ERRORS = 1000;
/** ...and at most about this many bytes of them: `errors` is stored on the batch row and sent with every read. */
const MAX_REPORTED_ERROR_BYTES = 100 * 1024;
/** Validation's findings are recorded only while the batch is still being validated (or cancelled meanwhile). */
const VALIDATING: BatchStatus[] = ['validating', 'cancelling'];
/** OpenAI's cap on embedding inputs across a batch. */
const MAX_EMBEDDING_INPUTS = 50000;

/** Accumulates findings, counts and chunk boundaries over one pass of the input. */
class Validation {
  readonly errors: LineError[] = [];
  errorCount = 0;
  private errorBytes = 0;
  total = 0;
  model: string | null = null;
  embeddingInputs = 0;
  /** Estimated prompt tokens of the valid lines, counted against the owner's enqueued token limit. */
  promptTokens = 0;
  tooMany = false;
  readonly chunks: ChunkSpec[] = [];
  private readonly seen = new Set<string>();
  private current: ChunkSpec | undefined;

  constructor(
    private readonly endpoint: string,
    private readonly chunkSize: number,
    private readonly maxRequests: number,
  ) {}

  report(error: LineError): void {
    this.errorCount++;
    if (this.errors.length >= MAX_REPORTED_ERRORS) return;
    // The entry's JSON: its message and code, plus about 50 bytes of keys, param and line.
    const bytes = error.message.length + error.code.length + 50;
    if (this.errorBytes + bytes > MAX_REPORTED_ERROR_BYTES) return;
    this.errorBytes += bytes;
    this.errors.push(error);
  }

  /** Checks one non-blank line and records it in the chunk index. */
  add(bytes: Buffer, lineNo: number, start: number, end: number): void {
    this.total++;
    this.index(lineNo, start, end);
    if (this.total > this.maxRequests && !this.tooMany) {
      this.tooMany = true;
      this.report({
        code: 'too_many_requests',
        message: `The batch has more than ${this.maxRequests} requests.`,
        param: null,
        line: null,
      });
    }
    const parsed = parseLine(bytes, lineNo);
    if ('error' in parsed) return this.report(parsed.error);
    const checked = checkLine(parsed.value, this.endpoint, lineNo);
    if ('error' in checked) return this.report(checked.error);
    const { custom_id, body } = checked.request;
    if (this.seen.has(custom_id)) {
      return this.report({
        code: 'duplicate_custom_id',
        param: 'custom_id',
        line: lineNo,
        message: `Line ${lineNo}: custom_id '${quote(custom_id)}' appears more than once; each must be unique.`,
      });
    }
    this.seen.add(custom_id);
    const model = typeof body.model === 'string' ? body.model : null;
    if (this.model === null && model !== null) this.model = model;
    else if (model !== null && model !== this.model) {
      return this.report({
        code: 'mismatched_model',
        param: 'body.model',
        line: lineNo,
        message: `Line ${lineNo}: model '${quote(model)}' differs from '${quote(this.model ?? '')}'; a batch uses one model.`,
      });
    }
    this.promptTokens += estimatePromptTokens(body);
    if (this.endpoint === '/v1/embeddings') this.countEmbeddings(body);
  }

  private countEmbeddings(body: Record<string, unknown>): void {
    this.embeddingInputs += embeddingInputs(body);
    if (this.embeddingInputs > MAX_EMBEDDING_INPUTS && !this.tooMany) {
      this.tooMany = true;
      this.report({
        code: 'too_many_requests',
        message: `The batch has more than ${MAX_EMBEDDING_INPUTS} embedding inputs.`,
        param: null,
        line: null,
      });
    }
  }

  private index(lineNo: number, start: number, end: number): void {
    if (!this.current || this.current.count >= this.chunkSize) {
      this.current = { start, end, count: 0, firstLine: lineNo };
      this.chunks.push(this.current);
    }
    this.current.end = end;
    this.current.count++;
  }
}

/**
 * Joins neighbouring chunks into exactly `max` when there are more, each of the same number of chunks give or take
 * one; a joined chunk's byte range also covers the blank lines between its parts, which readers skip.
 */
export function joinChunks(chunks: ChunkSpec[], max: number): ChunkSpec[] {
  if (chunks.length <= max) return chunks;
  const joined: ChunkSpec[] = [];
  for (let g = 0; g < max; g++) {
    const group = chunks.slice(Math.floor((g * chunks.length) / max), Math.floor(((g + 1) * chunks.length) / max));
    joined.push({
      start: group[0].start,
      end: group[group.length - 1].end,
      count: group.reduce((n, c) => n + c.count, 0),
      firstLine: group[0].firstLine,
    });
  }
  return joined;
}

/** Builds the validateInput activity: streams the input once, checks every line, writes the chunk index. */
export function makeValidateInput(deps: ActivityDeps) {
  const transition = makeTransition(deps);
  /** With `start`, the batch moves on in this activity: one activity fewer in every batch's history. */
  const moveOn = async (batchId: string, result: ValidateInputResult): Promise<ValidateInputResult> => {
    const started = result.ok
      ? await transition({ batchId, from: ['validating'], to: 'in_progress', total: result.total, model: result.model })
      : await transition({ batchId, from: ['validating'], to: 'failed' });
    return { ...result, started };
  };
  return async function validateInput({ batchId, start }: ValidateInputInput): Promise<ValidateInputResult> {
    const result = await validate(batchId);
    return start ? moveOn(batchId, result) : result;
  };

  async function validate(batchId: string): Promise<ValidateInputResult> {
    const batch = await deps.batches.getById(batchId);
    if (!batch) throw ApplicationFailure.create({ type: 'BatchNotFound', message: batchId, nonRetryable: true });
    const { settings } = deps;
    const result = (ok: boolean, v?: Validation, chunkCount = 0): ValidateInputResult => ({
      ok,
      total: v?.total ?? 0,
      chunkCount,
      window: settings.chunkWindow,
      heartbeatTimeoutMs: settings.heartbeatTimeoutMs,
      webhooks: deps.webhook !== undefined,
      progressRefreshMs: settings.progressRefreshMs,
      model: v?.model ?? null,
      expiresAtMs: Number(batch.expires_at) * 1000,
    });
    const file = await deps.files.getById(batch.input_file_id);
    if (!file) {
      const error = {
        code: 'invalid_file',
        message: `Input file ${batch.input_file_id} no longer exists.`,
        param: 'input_file_id',
        line: null,
      };
      await deps.batches.update(batchId, { errors: JSON.stringify({ object: 'list', data: [error] }) }, VALIDATING);
      return result(false);
    }
    const v = new Validation(batch.endpoint, settings.chunkSize, settings.maxBatchRequests);
    const ctx = Context.current();
    // A stream chunk's lines at a time: a generator step per line would cost more than checking most lines.
    for await (const lines of readLineBatches(deps.blobs.read(file.blob_key))) {
      for (const line of lines) {
        const bytes = stripBom(line);
        if (!isBlank(bytes)) v.add(bytes, line.lineNo, line.start, line.end);
      }
      // The SDK throttles what it sends; a local activity (a small input) has no heartbeat.
      if (!ctx.info.isLocal) ctx.heartbeat(lines[lines.length - 1].lineNo);
    }
    if (v.total > 0 && v.errorCount === 0 && !deps.router.forModel(v.model)) {
      v.report({
        code: 'model_not_found',
        message: `No upstream is configured for model '${quote(v.model ?? '')}'.`,
        param: 'body.model',
        line: null,
      });
    }
    if (v.total === 0)
      v.report({ code: 'empty_file', message: 'The input file has no requests.', param: null, line: null });
    if (v.errorCount === 0) await admit(batch, v);
    if (v.errorCount > 0) {
      log.info('validation failed', { total: v.total, errors: v.errorCount, first: v.errors[0]?.code });
      await deps.batches.update(batchId, { errors: JSON.stringify({ object: 'list', data: v.errors }) }, VALIDATING);
      return result(false, v);
    }
    const chunks = joinChunks(v.chunks, settings.maxChunks);
    const index: ChunkIndex = { endpoint: batch.endpoint, inputBlobKey: file.blob_key, model: v.model, chunks };
    await deps.blobs.writeBuffer(batchKeys(batchId).index, JSON.stringify(index));
    log.info('validated', { total: v.total, chunks: chunks.length, model: v.model });
    return result(true, v, chunks.length);
  }

  /**
   * Counts a valid batch against its owner's limits (TENANTS_FILE), or reports each limit it would pass: the batch
   * then fails validation. Validation may run again after its outcome committed, so an admitted batch stays admitted
   * and a refused one (already failed) keeps the errors it was refused with.
   */
  async function admit(batch: BatchRow, v: Validation): Promise<void> {
    if (batch.estimated_tokens !== null) return;
    if (batch.status === 'failed') {
      const stored = batch.errors ? (JSON.parse(batch.errors) as { data: LineError[] }).data : [];
      for (const error of stored) v.report(error);
      return;
    }
    const owner = batch.owner;
    const policy = deps.tenants.policyOf(owner);
    const need = { requests: v.total, tokens: v.promptTokens };
    const refuse = hasLimits(policy) ? (enqueued: Enqueued) => limitErrors(owner, policy, enqueued, need) : undefined;
    const refused = await deps.admissions.admit(batch.id, owner, need, refuse);
    for (const { code, message } of refused) v.report({ code, message, param: null, line: null });
    if (refused.length > 0) log.info('over its owner limits', { owner, codes: refused.map((e) => e.code) });
  }
}
