import {
  CancellationScope,
  defineQuery,
  defineSignal,
  isCancellation,
  log,
  patched,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { BatchStatus, FinalizeInput, FinalizeResult, ValidateInputResult } from '../activities/types';
import { fileActivities, localFileActivities, transition } from './activities';
import { runUntilStopped, startWindowTimer, type WindowTimer } from './chunk-window';
import { describe, initialProgress, type BatchProgress } from './progress';
import { BATCH_MODEL, BATCH_STATUS } from './search-attributes';
import { announceEnd } from './webhook';

export type { BatchProgress } from './progress';

/** The workflow's only argument: the batch id (the workflow id is the same) and settings fixed at its start. */
export interface BatchWorkflowInput {
  batchId: string;
  /**
   * How long validate and finalize may go without a heartbeat before Temporal retries them on another worker
   * (CHUNK_HEARTBEAT_TIMEOUT_MS of the API that started the batch). Older batches lack it: two minutes.
   */
  heartbeatTimeoutMs?: number;
  /**
   * Unix milliseconds at which the completion window ends (created_at + window). With it the window's timer starts
   * before validation, so a batch whose validation never succeeds still ends; batches started without it time only
   * their chunks.
   */
  expiresAtMs?: number;
  /**
   * The input file's size in bytes. An input of at most LOCAL_STEPS_MAX_BYTES is validated and finalized in local
   * activities; batches started without it use activities.
   */
  inputBytes?: number;
  /**
   * The workflow's steps as the API that started the batch knew them (BATCH_WORKFLOW_STEPS, workflows/steps.ts): a
   * batch started with them takes those steps from its input instead of from patch markers.
   */
  steps?: number;
}

/** What the workflow returns: finalize's summary, or the status the batch ended with otherwise. */
export type BatchWorkflowResult = FinalizeResult | { status: BatchStatus };

/** Asks the batch to stop: in-flight chunks are cancelled, finished results are kept. */
export const cancelSignal = defineSignal('cancel');
/** The batch's progress as the workflow knows it. */
export const progressQuery = defineQuery<BatchProgress>('progress');

/** The completion window covers validation (batches started with `expiresAtMs`). */
const WINDOW_COVERS_VALIDATION = 'window-covers-validation';
/**
 * Fewer steps per batch: validation moves the batch to in_progress itself, finalize moves it to finalizing itself, the
 * model and the status are set in one search attribute upsert, and the earlier patches are implied (one marker instead
 * of three). A batch of one chunk takes three activities instead of five.
 */
const FEWER_STEPS = 'fewer-steps';
/** Validate and finalize of a small input run as local activities (batches started with `inputBytes`). */
const LOCAL_STEPS = 'local-steps-for-small-inputs';
/** Inputs up to this size take the local steps: validation reads them in a few milliseconds. */
const LOCAL_STEPS_MAX_BYTES = 512 * 1024;
/**
 * Both of the above for a small input, in one marker: Temporal upserts its TemporalChangeVersion search attribute with
 * each patch marker (a history event and a visibility write each), so a small batch saves a marker and an upsert.
 * Batches recorded with the two markers replay through them.
 */
const SMALL_INPUT_STEPS = 'small-input-steps';
const FINAL: readonly BatchStatus[] = ['completed', 'failed', 'expired', 'cancelled'];

type Outcome = FinalizeInput['outcome'];

/**
 * One batch: validate, run chunks through a sliding window until done, expired or cancelled, then finalize.
 *
 * The workflow's own cancellation (Request Cancellation in the Web UI, `temporal workflow cancel`) means the API's
 * cancel: the batch moves to cancelling in the store and ends cancelled with its finished results, so the steps run
 * shielded from it and the request is turned into the cancel signal.
 */
export async function batchWorkflow(input: BatchWorkflowInput): Promise<BatchWorkflowResult> {
  const root = CancellationScope.current();
  return CancellationScope.nonCancellable(() => runBatch(input, root));
}

async function runBatch(
  { batchId, heartbeatTimeoutMs, expiresAtMs, inputBytes, steps }: BatchWorkflowInput,
  root: CancellationScope,
): Promise<BatchWorkflowResult> {
  const progress = initialProgress();
  const enter = (status: BatchStatus, model?: string | null) => {
    progress.status = status;
    upsertSearchAttributes([
      { key: BATCH_STATUS, value: status },
      ...(model ? [{ key: BATCH_MODEL, value: model }] : []),
    ]);
    setCurrentDetails(describe(progress));
  };
  setHandler(cancelSignal, () => {
    progress.cancelRequested = true;
  });
  setHandler(progressQuery, () => ({ ...progress }));
  setCurrentDetails(describe(progress));
  root.cancelRequested.catch(() =>
    CancellationScope.nonCancellable(() => cancelThroughStore(batchId, progress)).catch((err: unknown) =>
      log.warn('could not cancel the batch as Temporal asked', { batchId, error: String(err) }),
    ),
  );

  const small = inputBytes !== undefined && inputBytes <= LOCAL_STEPS_MAX_BYTES;
  const fromMarkers = () => {
    const smallSteps = small && patched(SMALL_INPUT_STEPS);
    const fewer = smallSteps || patched(FEWER_STEPS);
    return { fewer, local: smallSteps || (fewer && small && patched(LOCAL_STEPS)) };
  };
  // A batch started with its steps in the input (steps >= 1) takes these three patches without a marker. Its history
  // may still hold markers, recorded by a worker that predates `steps` (a rolling upgrade): a replay asks for them as
  // such a worker did, so each one is matched, and then takes the input's answers all the same (a replay of a history
  // without markers gets false from each question, records nothing, and ignores the answers).
  const fromInput = (steps ?? 0) >= 1;
  if (fromInput && workflowInfo().unsafe.isReplaying) fromMarkers();
  const { fewer, local } = fromInput ? { fewer: true, local: small } : fromMarkers();
  const activities = fileActivities(heartbeatTimeoutMs);
  const near = local ? localFileActivities() : undefined;
  const validateInput = near ? localFirst(near.validateInput, activities.validateInput) : activities.validateInput;
  const finalize = near ? localFirst(near.finalize, activities.finalize) : activities.finalize;
  const window =
    expiresAtMs !== undefined && (fewer || patched(WINDOW_COVERS_VALIDATION))
      ? startWindowTimer(expiresAtMs)
      : undefined;
  const validate = () => validateInput(fewer ? { batchId, start: true } : { batchId });
  const validation = window ? await validateWithin(window, validate) : await validate();
  const announce = (status: BatchStatus, webhooks?: boolean) => announceEnd(batchId, status, webhooks);
  /** The end status is in the store once finalize returns: shown at once, then announced to the webhook. */
  const end = async (result: FinalizeResult, webhooks?: boolean): Promise<FinalizeResult> => {
    enter(result.status);
    await announce(result.status, webhooks);
    return result;
  };
  if (validation === 'expired') {
    // The window ended before validation succeeded: nothing ran, and the batch ends expired (or cancelled).
    const expiring = await transition({ batchId, from: ['validating'], to: 'finalizing' });
    if (expiring.applied) enter('finalizing');
    else if (FINAL.includes(expiring.status)) return settled(expiring.status, enter);
    return end(await finalize({ batchId, outcome: expiring.applied ? 'expired' : 'cancelled' }));
  }
  const webhooks = validation.webhooks;
  if (!validation.ok) {
    const failed = validation.started ?? (await transition({ batchId, from: ['validating'], to: 'failed' }));
    if (failed.applied) {
      window?.cancel();
      enter('failed');
      await announce('failed', webhooks);
      return { status: 'failed' };
    }
    if (FINAL.includes(failed.status)) return settled(failed.status, enter);
    // A cancel landed during validation: the batch ends cancelled, with its validation errors recorded.
    return end(await finalize({ batchId, outcome: 'cancelled' }), webhooks);
  }
  progress.total = validation.total;
  progress.chunkCount = validation.chunkCount;
  if (!fewer && validation.model) upsertSearchAttributes([{ key: BATCH_MODEL, value: validation.model }]);
  const started =
    validation.started ??
    (await transition({
      batchId,
      from: ['validating'],
      to: 'in_progress',
      total: validation.total,
      model: validation.model,
    }));
  let finalizingEntered = false;
  /** in_progress -> finalizing; false when a cancel reached the store first. */
  const enterFinalizing = async (): Promise<boolean> => {
    const finalizing = await transition({ batchId, from: ['in_progress'], to: 'finalizing' });
    if (finalizing.applied) {
      finalizingEntered = true;
      enter('finalizing');
    }
    return finalizing.applied;
  };
  let outcome: Outcome = 'cancelled';
  if (started.applied && !progress.cancelRequested) {
    enter('in_progress', fewer ? validation.model : undefined);
    outcome = await runUntilStopped(
      batchId,
      validation,
      progress,
      enterFinalizing,
      () => setCurrentDetails(describe(progress)),
      window,
      fewer,
    );
  } else if (!started.applied && started.status !== 'cancelling') {
    // The store is ahead of this run (a reset replays a batch that got further, or another actor ended it).
    window?.cancel();
    if (started.status !== 'finalizing') return settled(started.status, enter);
    finalizingEntered = true;
    outcome = resumedFinalizeOutcome(validation);
  }
  // With fewer steps, finalize moves the batch to finalizing itself (and ends it cancelled if a cancel came first).
  if (fewer && outcome === 'completed' && !finalizingEntered) {
    return end(await finalize({ batchId, outcome, enterFinalizing: true }), webhooks);
  }
  if (outcome !== 'cancelled' && !finalizingEntered && !(await enterFinalizing())) outcome = 'cancelled';
  if (outcome === 'cancelled') enter('cancelling');
  return end(await finalize({ batchId, outcome }), webhooks);
}

/** A step as a local activity first; if that attempt fails, as the activity (with its heartbeats and retries). */
function localFirst<A extends unknown[], R>(
  local: (...args: A) => Promise<R>,
  activity: (...args: A) => Promise<R>,
): (...args: A) => Promise<R> {
  return async (...args) => {
    try {
      return await local(...args);
    } catch (err) {
      if (isCancellation(err)) throw err;
      log.warn('a local step failed; it goes on as an activity', { error: String(err) });
      return activity(...args);
    }
  };
}

/**
 * Validation raced against the completion window: when the window ends first, validation is cancelled (it heartbeats,
 * so it hears it) and the batch expires.
 */
async function validateWithin(
  window: WindowTimer,
  validate: () => Promise<ValidateInputResult>,
): Promise<ValidateInputResult | 'expired'> {
  const scope = new CancellationScope();
  const validating = scope.run(validate);
  const first = await Promise.race([validating, window.expired]);
  if (first !== 'expired' && first !== undefined) return first;
  scope.cancel();
  await validating.catch(() => undefined);
  return 'expired';
}

/** An operator's Request Cancellation, carried out as the API's cancel: cancelling in the store, then the signal. */
async function cancelThroughStore(batchId: string, progress: BatchProgress): Promise<void> {
  log.info('cancellation requested through Temporal: cancelling the batch', { batchId });
  const cancelling = await transition({ batchId, from: ['validating', 'in_progress'], to: 'cancelling' });
  // Finalizing or ended already: as with the API, too late to cancel.
  if (cancelling.applied) progress.cancelRequested = true;
}

/** A run that found the batch finalizing (a reset to before that point): the window says how it was ending. */
function resumedFinalizeOutcome(validation: ValidateInputResult): Outcome {
  return Date.now() >= validation.expiresAtMs ? 'expired' : 'completed';
}

/** The batch already ended in the store (another actor ended it, or this run was reset): nothing is left to do. */
function settled(status: BatchStatus, enter: (s: BatchStatus) => void): BatchWorkflowResult {
  enter(status);
  return { status };
}
