// The batch status enum and everything that hangs off a status, in one table: adding a status touches this file and
// the workflow (which imports the type only and keeps the list of statuses it ends on).

/** Every status a batch can have, in lifecycle order. */
export const BATCH_STATUSES = [
  'validating',
  'failed',
  'in_progress',
  'finalizing',
  'completed',
  'expired',
  'cancelling',
  'cancelled',
] as const;

/** A batch's status. */
export type BatchStatus = (typeof BATCH_STATUSES)[number];

/** A Batch object's timestamp column: set when the batch enters the status that names it. */
export type StatusStamp =
  'in_progress_at' | 'finalizing_at' | 'completed_at' | 'failed_at' | 'expired_at' | 'cancelling_at' | 'cancelled_at';

/** The webhook event announcing an end status. */
export type WebhookEventType = 'batch.completed' | 'batch.failed' | 'batch.expired' | 'batch.cancelled';

interface StatusTraits {
  /** The batch has ended: its row never changes again (readers cache it), and nothing reads its input any more. */
  final: boolean;
  /** Its request counts move and are read from the chunks' checkpoints rather than the batch row. */
  live: boolean;
  /** POST /v1/batches/{id}/cancel moves it to cancelling. */
  cancellable: boolean;
  /** The timestamp set on entering it (validating has created_at, set at creation). */
  stamp: StatusStamp | null;
  /** The webhook event that announces it (end statuses only). */
  event: WebhookEventType | null;
}

/** The one status table. */
export const STATUS: Readonly<Record<BatchStatus, StatusTraits>> = {
  validating: { final: false, live: false, cancellable: true, stamp: null, event: null },
  failed: { final: true, live: false, cancellable: false, stamp: 'failed_at', event: 'batch.failed' },
  in_progress: { final: false, live: true, cancellable: true, stamp: 'in_progress_at', event: null },
  finalizing: { final: false, live: true, cancellable: false, stamp: 'finalizing_at', event: null },
  completed: { final: true, live: false, cancellable: false, stamp: 'completed_at', event: 'batch.completed' },
  expired: { final: true, live: false, cancellable: false, stamp: 'expired_at', event: 'batch.expired' },
  cancelling: { final: false, live: true, cancellable: false, stamp: 'cancelling_at', event: null },
  cancelled: { final: true, live: false, cancellable: false, stamp: 'cancelled_at', event: 'batch.cancelled' },
};

const where = (test: (t: StatusTraits) => boolean): BatchStatus[] => BATCH_STATUSES.filter((s) => test(STATUS[s]));

/** Statuses of a batch that has not ended: its workflow may still read the input file. */
export const UNFINISHED_STATUSES: readonly BatchStatus[] = where((t) => !t.final);
/** Statuses whose request counts are read from chunk checkpoints. */
export const LIVE_STATUSES: readonly BatchStatus[] = where((t) => t.live);
/** Statuses a cancel moves to cancelling. */
export const CANCELLABLE_STATUSES: readonly BatchStatus[] = where((t) => t.cancellable);

/** True for a status of a batch that has ended (an unknown string is not one). */
export const isFinal = (status: string): boolean => STATUS[status as BatchStatus]?.final === true;

/** The end status a webhook event announces. */
export const statusOfEvent = (type: WebhookEventType): BatchStatus => type.slice('batch.'.length) as BatchStatus;
