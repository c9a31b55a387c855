import type { Generated } from 'kysely';

/** A row of `files`. Timestamps are Unix seconds. */
export interface FileTable {
  seq: Generated<number>;
  id: string;
  owner: string;
  purpose: string;
  filename: string;
  bytes: number;
  created_at: number;
  expires_at: number | null;
  blob_key: string;
  /** Set when deleted while an unfinished batch still read it: hidden from the API, removed by maintenance. */
  deleted_at: number | null;
}

/** A row of `batches`; JSON columns are stored as text. */
export interface BatchTable {
  seq: Generated<number>;
  id: string;
  owner: string;
  endpoint: string;
  model: string | null;
  input_file_id: string;
  completion_window: string;
  status: string;
  output_file_id: string | null;
  error_file_id: string | null;
  errors: string | null;
  created_at: number;
  in_progress_at: number | null;
  expires_at: number;
  finalizing_at: number | null;
  completed_at: number | null;
  failed_at: number | null;
  expired_at: number | null;
  cancelling_at: number | null;
  cancelled_at: number | null;
  total: number;
  completed: number;
  failed: number;
  usage: string | null;
  metadata: string | null;
  output_expires_seconds: number | null;
  idempotency_key: string | null;
  request_hash: string | null;
  /** Requests counted against the owner's limits, set when validation admits the batch (null before; 006). */
  admitted_requests: number | null;
  /** Estimated prompt tokens counted against the owner's limits, set with admitted_requests. */
  estimated_tokens: number | null;
}

/** Per-chunk progress, written at each checkpoint, summed for live request_counts. */
export interface ChunkProgressTable {
  batch_id: string;
  chunk: number;
  completed: number;
  failed: number;
  usage: string;
  /** The fencing token of the chunk attempt that owns it: bumped by each claim, required by each checkpoint. */
  attempt: Generated<number>;
  /** The owner's last checkpoint (ChunkState as JSON); null before its first, and for rows written before 004. */
  state: string | null;
}

/** Where each chunk's lines sit in an ended batch's output and error files (ResultLayout as JSON). */
export interface ResultLayoutTable {
  batch_id: string;
  layout: string;
}

/** The database as Kysely sees it. */
export interface Database {
  files: FileTable;
  batches: BatchTable;
  chunk_progress: ChunkProgressTable;
  result_layouts: ResultLayoutTable;
}
