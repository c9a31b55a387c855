import { z } from 'zod';
import { batchObjectSchema } from '../batch-format/batch-object';
import { createBatchSchema, listBatchesQuerySchema, rerunBatchSchema } from '../batches/batches.schemas';
import { fileObjectSchema, listFilesQuerySchema, uploadFieldsSchema } from '../files/files.schemas';
import { resultsQuerySchema } from '../results/results.schemas';

type JsonSchema = Record<string, unknown>;

/** A zod schema as OpenAPI 3.1 (JSON Schema 2020-12) describes it: what a caller sends, or what it gets back. */
const schemaOf = (schema: z.ZodType, io: 'input' | 'output' = 'input'): JsonSchema => {
  const described: JsonSchema = z.toJSONSchema(schema, { io, target: 'draft-2020-12', unrepresentable: 'any' });
  // The document says which dialect once; a schema inside it does not.
  delete described.$schema;
  return described;
};

/** Query parameters from an object schema (the same schema that validates them). */
function queryParameters(schema: z.ZodType): JsonSchema[] {
  const described = schemaOf(schema) as { properties?: Record<string, JsonSchema>; required?: string[] };
  return Object.entries(described.properties ?? {}).map(([name, s]) => ({
    name,
    in: 'query',
    required: described.required?.includes(name) ?? false,
    schema: s,
  }));
}

const pathParameter = (name: string, description: string) => ({
  name,
  in: 'path',
  required: true,
  schema: { type: 'string' },
  description,
});

const errorEnvelope = schemaOf(
  z.object({
    error: z.object({
      message: z.string(),
      type: z.string(),
      param: z.string().nullable(),
      code: z.string().nullable(),
    }),
  }),
  'output',
);

const listOf = (item: JsonSchema) => ({
  type: 'object',
  properties: {
    object: { const: 'list' },
    data: { type: 'array', items: item },
    first_id: { type: ['string', 'null'] },
    last_id: { type: ['string', 'null'] },
    has_more: { type: 'boolean' },
  },
  required: ['object', 'data', 'first_id', 'last_id', 'has_more'],
});

const json = (schema: JsonSchema) => ({ content: { 'application/json': { schema } } });
const ok = (description: string, schema: JsonSchema) => ({ description, ...json(schema) });
const errors = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((s) => [String(s), { description: 'OpenAI-style error', ...json(errorEnvelope) }]));

const batch = schemaOf(batchObjectSchema, 'output');
const file = schemaOf(fileObjectSchema, 'output');
const uploadFields = schemaOf(uploadFieldsSchema) as { properties: Record<string, JsonSchema>; required?: string[] };

/**
 * The OpenAPI 3.1 document of every route, generated from the zod schemas that validate the requests (and those the
 * responses are typed from), so it cannot drift from what the API accepts.
 */
export function openApiDocument(serverUrl?: string): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Batch API on Temporal',
      version: '0.1.0',
      description:
        "OpenAI's Files and Batch APIs for any OpenAI-compatible backend, durable on Temporal; plus extensions " +
        '(marked as such) no other batch API has.',
    },
    ...(serverUrl ? { servers: [{ url: serverUrl }] } : {}),
    security: [{ bearer: [] }],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'An API key from API_KEYS' } },
      schemas: { Batch: batch, File: file, Error: errorEnvelope },
    },
    paths: {
      '/v1/files': {
        post: {
          operationId: 'uploadFile',
          summary: 'Upload a batch input file (.jsonl, streamed to storage)',
          requestBody: {
            required: true,
            content: {
              'multipart/form-data': {
                schema: {
                  type: 'object',
                  properties: {
                    file: { type: 'string', contentMediaType: 'application/octet-stream' },
                    ...uploadFields.properties,
                  },
                  required: ['file', ...(uploadFields.required ?? [])],
                },
              },
            },
          },
          responses: { '200': ok('The File object', file), ...errors(400, 401, 429, 503, 507) },
        },
        get: {
          operationId: 'listFiles',
          summary: "List the caller's files",
          parameters: queryParameters(listFilesQuerySchema),
          responses: { '200': ok('A page of File objects', listOf(file)), ...errors(400, 401) },
        },
      },
      '/v1/files/{file_id}': {
        get: {
          operationId: 'retrieveFile',
          summary: 'A File object',
          parameters: [pathParameter('file_id', 'file-...')],
          responses: { '200': ok('The File object', file), ...errors(401, 404) },
        },
        delete: {
          operationId: 'deleteFile',
          summary: 'Delete a file (the input of a running batch is hidden at once and removed when the batch ends)',
          parameters: [pathParameter('file_id', 'file-...')],
          responses: {
            '200': ok('Deleted', {
              type: 'object',
              properties: { id: { type: 'string' }, object: { const: 'file' }, deleted: { const: true } },
              required: ['id', 'object', 'deleted'],
            }),
            ...errors(401, 404),
          },
        },
      },
      '/v1/files/{file_id}/content': {
        get: {
          operationId: 'downloadFile',
          summary: "A file's bytes, streamed",
          parameters: [pathParameter('file_id', 'file-...')],
          responses: {
            '200': {
              description: 'The bytes',
              content: { 'application/octet-stream': { schema: { type: 'string' } } },
            },
            ...errors(401, 404),
          },
        },
      },
      '/v1/batches': {
        post: {
          operationId: 'createBatch',
          summary: 'Create a batch from an uploaded input file',
          parameters: [
            {
              name: 'Idempotency-Key',
              in: 'header',
              required: false,
              schema: { type: 'string' },
              description: 'The same key with the same body answers the same batch',
            },
          ],
          requestBody: { required: true, ...json(schemaOf(createBatchSchema)) },
          responses: { '200': ok('The Batch object, validating', batch), ...errors(400, 401, 404, 409, 503) },
        },
        get: {
          operationId: 'listBatches',
          summary: "List the caller's batches, newest first",
          parameters: queryParameters(listBatchesQuerySchema),
          responses: { '200': ok('A page of Batch objects', listOf(batch)), ...errors(400, 401) },
        },
      },
      '/v1/batches/{batch_id}': {
        get: {
          operationId: 'retrieveBatch',
          summary: 'A Batch object with live counts',
          parameters: [pathParameter('batch_id', 'batch_...')],
          responses: { '200': ok('The Batch object', batch), ...errors(401, 404) },
        },
      },
      '/v1/batches/{batch_id}/cancel': {
        post: {
          operationId: 'cancelBatch',
          summary: 'Cancel a batch; finished results are kept',
          parameters: [pathParameter('batch_id', 'batch_...')],
          responses: { '200': ok('The Batch object, cancelling', batch), ...errors(401, 404, 409) },
        },
      },
      '/v1/batches/{batch_id}/rerun': {
        post: {
          operationId: 'rerunBatch',
          summary: 'Extension: a new batch of the lines of an ended batch that failed or never ran, byte for byte',
          parameters: [pathParameter('batch_id', 'batch_...')],
          requestBody: { required: false, ...json(schemaOf(rerunBatchSchema)) },
          responses: { '200': ok('The new Batch object', batch), ...errors(400, 401, 404, 409) },
        },
      },
      '/v1/batches/{batch_id}/results': {
        get: {
          operationId: 'batchResults',
          summary: "Extension: the result lines a batch has committed so far, past the previous page's cursor",
          parameters: [pathParameter('batch_id', 'batch_...'), ...queryParameters(resultsQuerySchema)],
          responses: {
            '200': {
              description:
                'Output and error lines (as in the files) committed since `after`. Pass `x-next-cursor` as `after` for ' +
                'the next page; `x-batch-complete: true` once the batch has ended and every line has been served.',
              headers: {
                'x-next-cursor': { required: true, schema: { type: 'string' } },
                'x-batch-complete': { required: true, schema: { type: 'string', enum: ['true', 'false'] } },
              },
              content: { 'application/jsonl': { schema: { type: 'string' } } },
            },
            ...errors(400, 401, 404, 409),
          },
        },
      },
      '/healthz': {
        get: {
          operationId: 'healthz',
          summary: 'The process is up (no key)',
          security: [],
          responses: { '200': ok('Up', { type: 'object', properties: { status: { const: 'ok' } } }) },
        },
      },
      '/readyz': {
        get: {
          operationId: 'readyz',
          summary: 'The metadata store, the blob store and Temporal answer (no key)',
          security: [],
          responses: { '200': ok('Ready', { type: 'object' }), ...errors(503) },
        },
      },
      '/metrics': {
        get: {
          operationId: 'metrics',
          summary: 'Prometheus metrics (no key)',
          security: [],
          responses: {
            '200': { description: 'Prometheus text', content: { 'text/plain': { schema: { type: 'string' } } } },
          },
        },
      },
      '/openapi.json': {
        get: {
          operationId: 'openapi',
          summary: 'This document (no key)',
          security: [],
          responses: { '200': ok('OpenAPI 3.1', { type: 'object' }) },
        },
      },
      '/docs': {
        get: {
          operationId: 'docs',
          summary: 'This document as a web page (no key)',
          security: [],
          responses: { '200': { description: 'HTML', content: { 'text/html': { schema: { type: 'string' } } } } },
        },
      },
    },
  };
}
