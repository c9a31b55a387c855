import { createHash, randomBytes, randomUUID } from 'node:crypto';

/** A url-safe random suffix: 18 random bytes -> 24 base64url characters. */
function randomSuffix(): string {
  return randomBytes(18).toString('base64url');
}

/** A new file id, `file-` + 24 url-safe random characters. */
export const newFileId = (): string => `file-${randomSuffix()}`;
/** A new batch id. */
export const newBatchId = (): string => `batch_${randomSuffix()}`;
// Output line ids are made on the hot path (one per request): a random per-process prefix plus a counter is
// unique without a random draw per id.
const linePrefix = randomBytes(9).toString('base64url');
let lineCounter = 0;

/** A new output line id: `batch_req_` + 24 url-safe characters, unique across processes. */
export const newBatchRequestId = (): string =>
  `batch_req_${linePrefix}${(lineCounter++).toString(36).padStart(12, '0')}`;
/**
 * A new API request id for the x-request-id header: `req_` + 32 hex characters (122 random bits). randomUUID
 * draws from a cached entropy pool; a randomBytes call per request showed in the API's profile under load.
 */
export const newRequestId = (): string => `req_${randomUUID().replace(/-/g, '')}`;

/** A stable file id derived from a name, so a retried finalize writes the same file row, never a second one. */
export const derivedFileId = (name: string): string =>
  `file-${createHash('sha256').update(name).digest('base64url').slice(0, 24)}`;
