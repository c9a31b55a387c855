import type { BatchRow, Progress } from '../storage/batch.store';
import { emptyUsage, type Usage } from './usage';

/** The Batch object, every field present (docs/api.md, Batches). */
export interface BatchObject {
  id: string;
  object: 'batch';
  endpoint: string;
  model: string | null;
  errors: {
    object: 'list';
    data: { code: string; message: string; param: string | null; line: number | null }[];
  } | null;
  input_file_id: string;
  completion_window: string;
  status: string;
  output_file_id: string | null;
  error_file_id: string | null;
  created_at: number;
  in_progress_at: number | null;
  expires_at: number;
  finalizing_at: number | null;
  completed_at: number | null;
  failed_at: number | null;
  expired_at: number | null;
  cancelling_at: number | null;
  cancelled_at: number | null;
  request_counts: { total: number; completed: number; failed: number };
  usage: Usage;
  metadata: Record<string, string> | null;
}

const n = (v: number | null): number | null => (v === null ? null : Number(v));

/** Serializes a row; `live` progress (summed from chunk checkpoints) replaces the row's counts while running. */
export function toBatchObject(row: BatchRow, live?: Progress): BatchObject {
  return {
    id: row.id,
    object: 'batch',
    endpoint: row.endpoint,
    model: row.model,
    errors: row.errors ? JSON.parse(row.errors) : null,
    input_file_id: row.input_file_id,
    completion_window: row.completion_window,
    status: row.status,
    output_file_id: row.output_file_id,
    error_file_id: row.error_file_id,
    created_at: Number(row.created_at),
    in_progress_at: n(row.in_progress_at),
    expires_at: Number(row.expires_at),
    finalizing_at: n(row.finalizing_at),
    completed_at: n(row.completed_at),
    failed_at: n(row.failed_at),
    expired_at: n(row.expired_at),
    cancelling_at: n(row.cancelling_at),
    cancelled_at: n(row.cancelled_at),
    request_counts: {
      total: Number(row.total),
      completed: live ? live.completed : Number(row.completed),
      failed: live ? live.failed : Number(row.failed),
    },
    usage: live ? live.usage : row.usage ? JSON.parse(row.usage) : emptyUsage(),
    metadata: row.metadata ? JSON.parse(row.metadata) : null,
  };
}
