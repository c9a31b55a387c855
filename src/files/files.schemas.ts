import { z } from 'zod';
import { zodDto } from '../common/zod-validation.pipe';

/** Purposes this service accepts for upload. */
export const UPLOAD_PURPOSES = ['batch'] as const;

/** `GET /v1/files` query. */
export const listFilesQuerySchema = z.object({
  purpose: z.string().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(10000).default(10000),
  order: z.enum(['asc', 'desc']).default('desc'),
  after: z.string().min(1).optional(),
});
export class ListFilesQuery extends zodDto(listFilesQuerySchema) {}

/** The non-file fields of `POST /v1/files`, as multipart sends them. */
export const uploadFieldsSchema = z
  .object({
    purpose: z.string({ error: "Missing required parameter: 'purpose'." }).refine((p) => p === 'batch', {
      message: "Invalid value for 'purpose': this service accepts only 'batch'.",
    }),
    'expires_after[anchor]': z
      .literal('created_at', { error: "Invalid value for 'expires_after.anchor': expected 'created_at'." })
      .optional(),
    'expires_after[seconds]': z.coerce
      .number({ error: "Invalid value for 'expires_after.seconds': expected an integer." })
      .int("Invalid value for 'expires_after.seconds': expected an integer.")
      .min(3600, "Invalid value for 'expires_after.seconds': must be at least 3600.")
      .max(2592000, "Invalid value for 'expires_after.seconds': must be at most 2592000.")
      .optional(),
  })
  .refine((f) => (f['expires_after[anchor]'] === undefined) === (f['expires_after[seconds]'] === undefined), {
    message: "'expires_after' needs both 'anchor' and 'seconds'.",
    path: ['expires_after'],
  });
export type UploadFields = z.infer<typeof uploadFieldsSchema>;

/** The File object (docs/api.md, Files); the OpenAPI document is generated from it. */
export const fileObjectSchema = z.object({
  id: z.string(),
  object: z.literal('file'),
  bytes: z.number().int(),
  created_at: z.number().int().describe('Unix seconds'),
  expires_at: z.number().int().nullable().describe('Unix seconds'),
  filename: z.string(),
  purpose: z.string(),
  status: z.literal('processed'),
  status_details: z.null(),
});

/** The File object. */
export type FileObject = z.infer<typeof fileObjectSchema>;
