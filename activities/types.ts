// Inputs and results of the batch activities. Only ids, counts and offsets: never a request or response body,
// so nothing large ever enters workflow history.

import type { BatchStatus, WebhookEventType } from '../src/batch-format/status';

export type { BatchStatus, WebhookEventType } from '../src/batch-format/status';

/** Names one batch. */
export interface BatchRef {
  batchId: string;
}

/** Validates a batch's input; with `start`, also moves the batch on (to in_progress, or failed) in the same activity. */
export interface ValidateInputInput extends BatchRef {
  start?: boolean;
}

/** What validation learned: counts and how to schedule, or that the file failed. */
export interface ValidateInputResult {
  ok: boolean;
  total: number;
  chunkCount: number;
  /** Chunks to keep in flight at once (the sliding window). */
  window: number;
  model: string | null;
  /** Unix milliseconds at which the completion window ends. */
  expiresAtMs: number;
  /** Heartbeat timeout for chunk activities (from the worker's configuration; absent in older histories). */
  heartbeatTimeoutMs?: number;
  /** Whether the end state is announced to a webhook (the worker has WEBHOOK_URL; absent in older histories). */
  webhooks?: boolean;
  /**
   * How often the workflow reads the batch's committed counts into its current details while chunks run (the first ten
   * times; ten times as long after that); absent in older histories, which never do.
   */
  progressRefreshMs?: number;
  /** With `start`: the move to in_progress (valid) or failed (not), as the transition activity would answer it. */
  started?: TransitionResult;
}

/** A compare-and-set status change. */
export interface TransitionInput {
  batchId: string;
  from: BatchStatus[];
  to: BatchStatus;
  /** Set with the move to in_progress. */
  total?: number;
  model?: string | null;
  /** Recorded as the batch's only `errors` entry (a batch failed by a repair). */
  error?: { code: string; message: string };
}

/** Whether the batch now has the target status (set by this call or an earlier run of it), and its status. */
export interface TransitionResult {
  applied: boolean;
  status: BatchStatus;
}

/** One chunk of a batch. */
export interface ProcessChunkInput {
  batchId: string;
  chunk: number;
}

/** Requests of the chunk that have a final answer. */
export interface ProcessChunkResult {
  completed: number;
  failed: number;
}

/** How the batch ends; finalize writes the files and the end status. */
export interface FinalizeInput {
  batchId: string;
  outcome: 'completed' | 'expired' | 'cancelled';
  /**
   * For `completed`: move the batch from in_progress to finalizing first, in this activity; when a cancel reached the
   * store first, the batch ends cancelled instead (its result says so).
   */
  enterFinalizing?: boolean;
}

/** The end status written. */
export interface FinalizeResult {
  status: BatchStatus;
  completed: number;
  failed: number;
  unfinished: number;
}

/** Announces a batch's end state, which the store already holds. */
export interface NotifyWebhookInput {
  batchId: string;
  type: WebhookEventType;
}

/** The receiver's 2xx status, or null when this worker has no webhook configured (nothing was sent). */
export interface NotifyWebhookResult {
  eventId: string;
  status: number | null;
}

/** Reads a running batch's committed counts for the workflow's current details. */
export interface ReadProgressInput {
  batchId: string;
  model: string | null;
}

/** The counts the chunks have committed, and what the batch's upstream waits on, in words. */
export interface ReadProgressResult {
  completed: number;
  failed: number;
  waitingOn: string | null;
}
