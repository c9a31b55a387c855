import type { S3Client } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { AppConfig } from '../../src/config/config';

/**
 * Which blob store the suite runs against: TEST_BLOB_STORE=s3 for an S3-compatible server (s3rver, started once
 * per run in global setup), else the filesystem store in each stack's DATA_DIR.
 */
function s3Run(): boolean {
  const store = process.env.TEST_BLOB_STORE;
  if (store && store !== 's3' && store !== 'fs') throw new Error(`TEST_BLOB_STORE=${store}: expected s3 or fs`);
  return store === 's3';
}

/** Starts whatever blob server the run needs (none for the filesystem store); returns its stop function. */
export async function startTestBlobServer(): Promise<(() => Promise<void>) | undefined> {
  if (!s3Run()) return undefined;
  const { S3RVER_CREDENTIALS, startS3TestServer } = await import('./s3-test-server');
  const server = await startS3TestServer();
  // Test workers and the worker processes tests spawn inherit these; the store reads the standard AWS variables.
  process.env.TEST_S3_ENDPOINT = server.endpoint;
  process.env.AWS_ACCESS_KEY_ID = S3RVER_CREDENTIALS.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = S3RVER_CREDENTIALS.secretAccessKey;
  return server.stop;
}

/** Extra env for a new stack's blob store: in an S3 run, a bucket of its own (created here) and a key prefix. */
export async function testBlobEnv(): Promise<Record<string, string>> {
  if (!s3Run()) return {};
  const endpoint = process.env.TEST_S3_ENDPOINT;
  if (!endpoint) throw new Error('TEST_BLOB_STORE=s3 but TEST_S3_ENDPOINT is unset: global setup starts the server');
  const env = { S3_ENDPOINT: endpoint, S3_FORCE_PATH_STYLE: 'true' as const };
  const bucket = `test-${randomBytes(8).toString('hex')}`;
  const { CreateBucketCommand } = await import('@aws-sdk/client-s3');
  await withClient(env, (client) => client.send(new CreateBucketCommand({ Bucket: bucket })));
  return { ...env, BLOB_URL: `s3://${bucket}/blobs` };
}

/** Keys of the blobs under `files/` plus any temporary uploads (`tmp/...`), for "nothing left behind" checks. */
export async function listFileBlobs(config: AppConfig): Promise<string[]> {
  if (config.BLOB_URL) return listS3FileBlobs(config, config.BLOB_URL);
  const root = join(config.DATA_DIR, 'blobs');
  const list = (dir: string): string[] =>
    existsSync(join(root, dir)) ? readdirSync(join(root, dir)).map((f) => `${dir}/${f}`) : [];
  return [...list('files'), ...list('tmp')];
}

/** The S3 store's counterpart: objects under `files/`, and multipart uploads in progress as `tmp/<key>`. */
async function listS3FileBlobs(config: AppConfig, blobUrl: string): Promise<string[]> {
  const { ListMultipartUploadsCommand, paginateListObjectsV2 } = await import('@aws-sdk/client-s3');
  const { parseBlobUrl } = await import('../../src/storage/s3-blob.store');
  const { bucket, prefix } = parseBlobUrl(blobUrl);
  return withClient(config, async (client) => {
    const keys: string[] = [];
    for await (const page of paginateListObjectsV2({ client }, { Bucket: bucket, Prefix: `${prefix}files/` })) {
      keys.push(...(page.Contents ?? []).map((o) => o.Key!.slice(prefix.length)));
    }
    const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix }));
    if (uploads.IsTruncated) throw new Error('more multipart uploads in progress than one page lists');
    keys.push(...(uploads.Uploads ?? []).map((u) => `tmp/${u.Key!.slice(prefix.length)}`));
    return keys;
  });
}

async function withClient<T>(
  config: Partial<Pick<AppConfig, 'S3_ENDPOINT' | 'S3_FORCE_PATH_STYLE' | 'AWS_REGION'>>,
  use: (client: S3Client) => Promise<T>,
): Promise<T> {
  const { createS3Client } = await import('../../src/storage/s3-blob.store');
  const client = createS3Client({
    S3_ENDPOINT: config.S3_ENDPOINT,
    S3_FORCE_PATH_STYLE: config.S3_FORCE_PATH_STYLE ?? 'true',
    AWS_REGION: config.AWS_REGION ?? 'us-east-1',
  });
  try {
    return await use(client);
  } finally {
    client.destroy();
  }
}
