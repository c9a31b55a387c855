import { z } from 'zod';
import { zodDto } from '../common/zod-validation.pipe';

/** The endpoints a batch may target (docs/api.md, Batches). */
export const BATCH_ENDPOINTS = [
  '/v1/responses',
  '/v1/chat/completions',
  '/v1/embeddings',
  '/v1/completions',
  '/v1/moderations',
  '/v1/images/generations',
  '/v1/images/edits',
  '/v1/videos',
] as const;

const metadataSchema = z
  .record(
    z.string(),
    z.string({ error: 'metadata values must be strings' }).max(512, 'metadata values must be at most 512 characters'),
    { error: 'metadata must be an object of string values' },
  )
  .superRefine((metadata, ctx) => {
    const keys = Object.keys(metadata);
    if (keys.length > 16)
      ctx.addIssue({ code: 'custom', message: `metadata may have at most 16 keys (got ${keys.length})` });
    for (const key of keys.filter((k) => k.length > 64)) {
      ctx.addIssue({
        code: 'custom',
        path: [key],
        message: `metadata keys must be at most 64 characters (got ${key.length})`,
      });
    }
  });

/** `POST /v1/batches` body. */
export const createBatchSchema = z.strictObject(
  {
    input_file_id: z.string({ error: "Missing required parameter: 'input_file_id'." }).min(1),
    endpoint: z.enum(BATCH_ENDPOINTS, { error: `endpoint must be one of ${BATCH_ENDPOINTS.join(', ')}` }),
    completion_window: z.literal('24h', { error: "completion_window must be '24h'" }),
    metadata: metadataSchema.nullish(),
    output_expires_after: z
      .strictObject({
        anchor: z.literal('created_at', { error: "anchor must be 'created_at'" }),
        seconds: z
          .number({ error: 'seconds must be an integer' })
          .int('seconds must be an integer')
          .min(3600, 'seconds must be at least 3600')
          .max(2592000, 'seconds must be at most 2592000'),
      })
      .nullish(),
  },
  {
    error: (issue) =>
      issue.code === 'unrecognized_keys'
        ? `Unrecognized request argument supplied: ${issue.keys.join(', ')}`
        : undefined,
  },
);
export class CreateBatchBody extends zodDto(createBatchSchema) {}

/** `GET /v1/batches` query. */
export const listBatchesQuerySchema = z.object({
  after: z.string().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
});
export class ListBatchesQuery extends zodDto(listBatchesQuerySchema) {}

/** `POST /v1/batches/{id}/rerun` body (an extension): which lines to run again, and the new batch's metadata. */
export const rerunBatchSchema = z
  .strictObject(
    {
      lines: z.enum(['failed', 'unfinished'], { error: "lines must be 'failed' or 'unfinished'" }).default('failed'),
      metadata: metadataSchema.nullish(),
    },
    {
      error: (issue) =>
        issue.code === 'unrecognized_keys'
          ? `Unrecognized request argument supplied: ${issue.keys.join(', ')}`
          : undefined,
    },
  )
  .default({ lines: 'failed' });
export class RerunBatchBody extends zodDto(rerunBatchSchema) {}
