import { z } from 'zod';
import type { BatchRow, Progress } from '../storage/batch.store';
import { BATCH_STATUSES, type BatchStatus } from './status';
import { emptyUsage } from './usage';

const timestamp = z.number().int().describe('Unix seconds');
const nullableTimestamp = timestamp.nullable();

/** Token usage, summed from the response bodies. */
export const usageSchema = z.object({
  input_tokens: z.number().int(),
  input_tokens_details: z.object({ cached_tokens: z.number().int() }),
  output_tokens: z.number().int(),
  output_tokens_details: z.object({ reasoning_tokens: z.number().int() }),
  total_tokens: z.number().int(),
});

/** The Batch object, every field present (docs/api.md, Batches); the OpenAPI document is generated from it. */
export const batchObjectSchema = z.object({
  id: z.string(),
  object: z.literal('batch'),
  endpoint: z.string(),
  model: z.string().nullable().describe('null until validation has read it'),
  errors: z
    .object({
      object: z.literal('list'),
      data: z.array(
        z.object({
          code: z.string(),
          message: z.string(),
          param: z.string().nullable(),
          line: z.number().int().nullable().describe('1-based line of the input file'),
        }),
      ),
    })
    .nullable(),
  input_file_id: z.string(),
  completion_window: z.string(),
  status: z.enum(BATCH_STATUSES),
  output_file_id: z.string().nullable(),
  error_file_id: z.string().nullable(),
  created_at: timestamp,
  in_progress_at: nullableTimestamp,
  expires_at: timestamp,
  finalizing_at: nullableTimestamp,
  completed_at: nullableTimestamp,
  failed_at: nullableTimestamp,
  expired_at: nullableTimestamp,
  cancelling_at: nullableTimestamp,
  cancelled_at: nullableTimestamp,
  request_counts: z.object({ total: z.number().int(), completed: z.number().int(), failed: z.number().int() }),
  usage: usageSchema,
  metadata: z.record(z.string(), z.string()).nullable(),
});

/** The Batch object. */
export type BatchObject = z.infer<typeof batchObjectSchema>;

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
    status: row.status as BatchStatus,
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
