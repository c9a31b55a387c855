import {
  AbortMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  PutObjectCommand,
  S3Client,
  paginateListObjectsV2,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { Readable, pipeline } from 'node:stream';
import type { AppConfig } from '../config/config';
import { STALE_TEMP_MS, byteLimit, type BlobAppender, type BlobStore } from './blob.store';
import { SegmentAppender, chainOf, endOf, segmentPath, type Segment } from './s3-segments';

/** The configuration an S3 blob store reads. */
export type S3Config = Pick<AppConfig, 'BLOB_URL' | 'S3_ENDPOINT' | 'S3_FORCE_PATH_STYLE' | 'AWS_REGION'>;

type ByteRange = { start: number; end: number };

/** `s3://bucket/some/prefix` -> the bucket and a key prefix ('' or ending in '/'). */
export function parseBlobUrl(url: string): { bucket: string; prefix: string } {
  const { protocol, hostname, pathname } = new URL(url);
  if (protocol !== 's3:' || !hostname) throw new Error(`expected s3://bucket/prefix, got ${url}`);
  const path = decodeURIComponent(pathname).replace(/^\/+|\/+$/g, '');
  return { bucket: hostname, prefix: path ? `${path}/` : '' };
}

/** An S3 client for the configured region and endpoint; credentials come from the standard AWS chain. */
export function createS3Client(config: Omit<S3Config, 'BLOB_URL'>): S3Client {
  return new S3Client({
    region: config.AWS_REGION,
    endpoint: config.S3_ENDPOINT,
    forcePathStyle: config.S3_FORCE_PATH_STYLE === 'true',
    // The SDK's newer default sends streamed bodies as aws-chunked with a trailing checksum; S3-compatible servers
    // that predate it store the framing as data (s3rver turned a 3-byte stream into a 44-byte object). Checksums
    // only where an operation requires one (DeleteObjects) work on AWS and on those servers alike.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** An S3 "not there" error: NoSuchKey from GET, NotFound from HEAD (which has no body to name it). */
const isMissing = (err: unknown): boolean => ['NoSuchKey', 'NotFound'].includes((err as Error).name);

/**
 * Blobs in an S3 bucket under a key prefix (BLOB_URL=s3://bucket/prefix). Shared by every API and worker process.
 *
 * `write` streams through a multipart upload (parts of `partSize`, `queueSize` in flight, so memory stays bounded
 * whatever the blob's size); the object appears only when the upload completes, and a failed upload is aborted so
 * no parts remain. Small blobs are one PutObject. Reads are ranged GETs.
 *
 * S3 has no append. An appended blob (a chunk's part file) is stored as segments: `<key>.parts/<start>`, one object
 * per `sync()` holding the bytes appended since the previous one, `<start>` being their offset in the blob,
 * zero-padded to 16 digits. The blob is the chain of segments that tiles [0, n) from offset 0. `openAppend(key,
 * validBytes)` (a retried chunk, on any worker) rewrites the segment that straddles `validBytes` truncated and
 * deletes every segment not kept, so appends continue exactly at the checkpoint. `read` and `size` of a key with no
 * plain object fall back to its segments. A key is written either whole or by appends, never both.
 */
export class S3BlobStore implements BlobStore {
  private readonly partSize: number;
  private readonly queueSize: number;

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly prefix = '',
    opts: { partSize?: number; queueSize?: number } = {},
  ) {
    this.partSize = opts.partSize ?? 8 * 1024 * 1024;
    this.queueSize = opts.queueSize ?? 4;
  }

  /** The store for BLOB_URL, after checking that its bucket answers (a bad bucket or key fails start, not uploads). */
  static async open(config: S3Config & { BLOB_URL: string }): Promise<S3BlobStore> {
    const { bucket, prefix } = parseBlobUrl(config.BLOB_URL);
    const store = new S3BlobStore(createS3Client(config), bucket, prefix);
    try {
      await store.client.send(new HeadBucketCommand({ Bucket: bucket }));
    } catch (err) {
      store.close();
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      const why =
        status === 404
          ? 'the bucket does not exist'
          : status === 401 || status === 403
            ? 'access denied (check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the role)'
            : `${(err as Error).name}: ${(err as Error).message}`;
      const where = config.S3_ENDPOINT ? ` at ${config.S3_ENDPOINT}` : '';
      throw new Error(`BLOB_URL=${config.BLOB_URL}: cannot use bucket ${bucket}${where}: ${why}`);
    }
    return store;
  }

  /** The bucket answers HeadBucket (it exists and the credentials may use it). */
  async check(): Promise<void> {
    await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
  }

  /** Releases the client's connections. */
  close(): void {
    this.client.destroy();
  }

  private path(key: string): string {
    return this.prefix + key;
  }

  /** Streams `source` into `key` through a multipart upload, enforcing `maxBytes`; a failed upload is aborted. */
  async write(key: string, source: Readable, maxBytes = Number.MAX_SAFE_INTEGER): Promise<number> {
    const counter = byteLimit(maxBytes);
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: this.path(key), Body: counter },
      partSize: this.partSize,
      queueSize: this.queueSize,
    });
    // A failure on either side destroys both streams: the upload reading `counter` sees the source's error (or
    // the limit), and the source stops when the upload fails. The error surfaces through `done()` below.
    pipeline(source, counter, () => undefined);
    try {
      // On a failed part or source, Upload aborts the multipart upload before `done()` rejects, so nothing is
      // left. (Its `abort()` method would reject at once, without waiting for that cleanup; it is not used.)
      await upload.done();
      return counter.bytes;
    } catch (err) {
      counter.destroy();
      throw err;
    }
  }

  /**
   * Aborts multipart uploads under the prefix started more than a day ago: uploads cut off by a killed process.
   * (S3 cannot tell whose upload is still running, so younger ones are left; a bucket lifecycle rule
   * `AbortIncompleteMultipartUpload` does the same job on AWS.)
   */
  async sweepTemp(): Promise<number> {
    const cutoff = Date.now() - STALE_TEMP_MS;
    let removed = 0;
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    do {
      const page = await this.client.send(
        new ListMultipartUploadsCommand({
          Bucket: this.bucket,
          Prefix: this.prefix,
          KeyMarker: keyMarker,
          UploadIdMarker: uploadIdMarker,
        }),
      );
      for (const u of page.Uploads ?? []) {
        if (!u.Key || !u.UploadId || (u.Initiated?.getTime() ?? Date.now()) > cutoff) continue;
        await this.client.send(
          new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: u.Key, UploadId: u.UploadId }),
        );
        removed++;
      }
      keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
      uploadIdMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
    } while (keyMarker);
    return removed;
  }

  /** Writes a small blob with one PutObject. */
  async writeBuffer(key: string, data: Buffer | string): Promise<void> {
    await this.put(this.path(key), typeof data === 'string' ? Buffer.from(data) : data);
  }

  /** Reads a whole small blob, or undefined when it does not exist. */
  async readBuffer(key: string): Promise<Buffer | undefined> {
    try {
      return await collect(this.chunks(key));
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  /**
   * A stream over the blob, optionally a byte range [start, end); the GET starts when the stream is first read, and
   * its body arrives as the network delivers it (the filesystem's read size does not apply).
   */
  read(key: string, range?: ByteRange): Readable {
    if (range && range.end <= range.start) return Readable.from([]);
    return Readable.from(this.chunks(key, range), { objectMode: false });
  }

  /** The blob's size in bytes, or undefined. */
  async size(key: string): Promise<number | undefined> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.path(key) }));
      return head.ContentLength ?? 0;
    } catch (err) {
      if (!isMissing(err)) throw err;
    }
    const chain = chainOf(await this.segments(key));
    return chain.length ? endOf(chain) : undefined;
  }

  /** Opens `key` for appending after truncating it to `validBytes` (the last checkpoint). */
  async openAppend(key: string, validBytes: number): Promise<BlobAppender> {
    const all = await this.segments(key);
    const chain = chainOf(all);
    if (endOf(chain) < validBytes) {
      throw new Error(`blob ${key} holds ${endOf(chain)} bytes, fewer than its checkpoint's ${validBytes}`);
    }
    const kept = chain.filter((s) => s.start < validBytes);
    const last = kept[kept.length - 1];
    if (last && last.start + last.size > validBytes) {
      const head = await collect(await this.get(last.path, { start: 0, end: validBytes - last.start }));
      await this.put(last.path, head);
    }
    await this.deletePaths(all.filter((s) => !kept.includes(s)).map((s) => s.path));
    const path = this.path(key);
    return new SegmentAppender(validBytes, (start, data) => this.put(segmentPath(path, start), data));
  }

  /** Removes a blob, its segments, and every blob under `key/`; missing is fine. */
  async delete(key: string): Promise<void> {
    const path = this.path(key);
    await this.deletePaths([path]);
    for (const prefix of [`${path}/`, `${path}.parts/`]) {
      for await (const page of paginateListObjectsV2(
        { client: this.client },
        { Bucket: this.bucket, Prefix: prefix },
      )) {
        await this.deletePaths((page.Contents ?? []).map((o) => o.Key!));
      }
    }
  }

  /** The object's bytes, else its segments' (ranged in both cases). */
  private async *chunks(key: string, range?: ByteRange): AsyncGenerator<Buffer> {
    let body: AsyncIterable<Buffer>;
    try {
      body = await this.get(this.path(key), range);
    } catch (err) {
      if (!isMissing(err)) throw err;
      const chain = chainOf(await this.segments(key));
      if (!chain.length) throw err;
      body = this.segmentChunks(chain, range);
    }
    yield* body;
  }

  private async *segmentChunks(chain: Segment[], range?: ByteRange): AsyncGenerator<Buffer> {
    const [start, end] = range ? [range.start, range.end] : [0, Infinity];
    for (const s of chain) {
      const from = Math.max(start, s.start);
      const to = Math.min(end, s.start + s.size);
      if (from < to) yield* await this.get(s.path, { start: from - s.start, end: to - s.start });
    }
  }

  private async get(path: string, range?: ByteRange): Promise<AsyncIterable<Buffer>> {
    try {
      const res = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: path,
          Range: range && `bytes=${range.start}-${range.end - 1}`,
        }),
      );
      return res.Body as Readable;
    } catch (err) {
      // A range starting at or past the end: nothing, as a file read past its end.
      if ((err as Error).name === 'InvalidRange') return Readable.from([]);
      throw err;
    }
  }

  private async put(path: string, body: Buffer): Promise<void> {
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: path, Body: body }));
  }

  /** Every segment object of an appended blob, in any order. */
  private async segments(key: string): Promise<Segment[]> {
    const prefix = `${this.path(key)}.parts/`;
    const found: Segment[] = [];
    for await (const page of paginateListObjectsV2({ client: this.client }, { Bucket: this.bucket, Prefix: prefix })) {
      for (const o of page.Contents ?? []) {
        const name = o.Key!.slice(prefix.length);
        if (/^\d+$/.test(name)) found.push({ path: o.Key!, start: Number(name), size: o.Size ?? 0 });
      }
    }
    return found;
  }

  private async deletePaths(paths: string[]): Promise<void> {
    for (let i = 0; i < paths.length; i += 1000) {
      const res = await this.client.send(
        new DeleteObjectsCommand({
          Bucket: this.bucket,
          Delete: { Objects: paths.slice(i, i + 1000).map((Key) => ({ Key })), Quiet: true },
        }),
      );
      const failed = res.Errors?.[0];
      if (failed) throw new Error(`deleting ${failed.Key} failed: ${failed.Code} ${failed.Message}`);
    }
  }
}

async function collect(body: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk);
  return Buffer.concat(chunks);
}
