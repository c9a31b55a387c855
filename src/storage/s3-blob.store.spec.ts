import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  ListMultipartUploadsCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { S3RVER_CREDENTIALS, startS3TestServer, type S3TestServer } from '../../test/support/s3-test-server';
import { BlobTooLargeError } from './blob.store';
import { S3BlobStore, createS3Client } from './s3-blob.store';

const MiB = 1024 * 1024;
const PART = 5 * MiB; // S3's smallest part size

/** `data` as a stream of 64 KiB pieces; with `failAt`, the stream errors after that many bytes. */
function streamOf(data: Buffer, failAt?: number): Readable {
  return Readable.from(
    (function* () {
      for (let at = 0; at < data.length; at += 64 * 1024) {
        if (failAt !== undefined && at >= failAt) throw new Error('client went away');
        yield data.subarray(at, at + 64 * 1024);
      }
    })(),
  );
}

async function text(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString();
}

describe('S3BlobStore against s3rver', () => {
  let server: S3TestServer;
  let client: S3Client;
  let store: S3BlobStore;
  const bucket = 'blob-spec';
  const prefix = 'some/prefix/';
  /** The names of the S3 commands sent by `client` since the test began. */
  let sent: string[] = [];
  /** When set, the next command with this name fails. */
  let failNext: string | undefined;
  const savedEnv = { ...process.env };

  beforeAll(async () => {
    server = await startS3TestServer();
    process.env.AWS_ACCESS_KEY_ID = S3RVER_CREDENTIALS.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = S3RVER_CREDENTIALS.secretAccessKey;
    const config = { S3_ENDPOINT: server.endpoint, S3_FORCE_PATH_STYLE: 'true' as const, AWS_REGION: 'us-east-1' };
    client = createS3Client(config);
    client.middlewareStack.add(
      (next, context) => async (args) => {
        sent.push(context.commandName!);
        if (failNext === context.commandName) {
          failNext = undefined;
          throw new Error(`injected ${context.commandName} failure`);
        }
        return next(args);
      },
      { step: 'initialize' },
    );
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    store = new S3BlobStore(client, bucket, prefix, { partSize: PART, queueSize: 2 });
  });
  beforeEach(() => {
    sent = [];
    failNext = undefined;
  });
  afterAll(async () => {
    client.destroy();
    await server.stop();
    process.env = savedEnv;
  });

  /** Multipart uploads in progress under the store's prefix. */
  const uploadsInProgress = async (): Promise<string[]> => {
    const res = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix }));
    return (res.Uploads ?? []).map((u) => u.Key!);
  };
  const count = (name: string): number => sent.filter((n) => n === name).length;

  it('lists a multipart upload in progress until it is aborted (the test server supports both)', async () => {
    const key = `${prefix}probe`;
    const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
    expect(await uploadsInProgress()).toEqual([key]);
    await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId }));
    expect(await uploadsInProgress()).toEqual([]);
  });

  it('streams a multi-MB blob through a multipart upload and reads it back whole and in ranges', async () => {
    const data = randomBytes(2 * PART + 12345);
    expect(await store.write('files/big', streamOf(data))).toBe(data.length);
    expect(count('CreateMultipartUploadCommand')).toBe(1);
    expect(count('UploadPartCommand')).toBe(3);
    expect(count('CompleteMultipartUploadCommand')).toBe(1);
    expect(count('PutObjectCommand')).toBe(0);

    expect((await store.readBuffer('files/big'))!.equals(data)).toBe(true);
    expect(await store.size('files/big')).toBe(data.length);
    const range = { start: PART - 100, end: PART + 100 };
    const chunks: Buffer[] = [];
    for await (const chunk of store.read('files/big', range)) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).equals(data.subarray(range.start, range.end))).toBe(true);
    expect(await uploadsInProgress()).toEqual([]);
  });

  it('stops a stream over the byte limit: BlobTooLargeError, no object, no upload left, source destroyed', async () => {
    const source = streamOf(randomBytes(3 * PART));
    const err = await store.write('files/too-big', source, PART + MiB).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BlobTooLargeError);
    expect(count('UploadPartCommand')).toBeGreaterThanOrEqual(1); // a multipart upload had begun
    expect(count('AbortMultipartUploadCommand')).toBe(1);
    expect(await store.size('files/too-big')).toBeUndefined();
    expect(await uploadsInProgress()).toEqual([]);
    expect(source.destroyed).toBe(true);
  });

  it('leaves nothing when the source fails mid-stream, before or after the first part', async () => {
    const data = randomBytes(3 * PART);
    await expect(store.write('files/broken', streamOf(data, PART + 2 * MiB))).rejects.toThrow('client went away');
    expect(count('AbortMultipartUploadCommand')).toBe(1);
    sent = [];
    await expect(store.write('files/broken', streamOf(data, MiB))).rejects.toThrow('client went away');
    expect(count('CreateMultipartUploadCommand') + count('PutObjectCommand')).toBe(0);
    expect(await store.size('files/broken')).toBeUndefined();
    expect(await uploadsInProgress()).toEqual([]);
  });

  it('leaves nothing when S3 fails a part, and reports that failure', async () => {
    failNext = 'UploadPartCommand';
    await expect(store.write('files/s3-failed', streamOf(randomBytes(2 * PART + 1)))).rejects.toThrow(
      'injected UploadPartCommand failure',
    );
    expect(count('AbortMultipartUploadCommand')).toBe(1);
    expect(await store.size('files/s3-failed')).toBeUndefined();
    expect(await uploadsInProgress()).toEqual([]);
  });

  it('writes small blobs with one PutObject and reads ranges like a file does', async () => {
    expect(await store.write('files/small', streamOf(Buffer.from('0123456789')))).toBe(10);
    expect(sent).toEqual(['PutObjectCommand']);
    await store.writeBuffer('batches/b/index.json', '{"a":1}');
    expect((await store.readBuffer('batches/b/index.json'))?.toString()).toBe('{"a":1}');

    expect(await text(store.read('files/small'))).toBe('0123456789');
    expect(await text(store.read('files/small', { start: 3, end: 7 }))).toBe('3456');
    expect(await text(store.read('files/small', { start: 5, end: 5 }))).toBe('');
    expect(await text(store.read('files/small', { start: 8, end: 20 }))).toBe('89');
    expect(await text(store.read('files/small', { start: 10, end: 20 }))).toBe('');
    expect(await store.size('files/small')).toBe(10);

    expect(await store.readBuffer('files/none')).toBeUndefined();
    expect(await store.size('files/none')).toBeUndefined();
    await expect(text(store.read('files/none'))).rejects.toMatchObject({ name: 'NoSuchKey' });
  });

  it('starts a read lazily: a stream nobody reads sends nothing', async () => {
    const stream = store.read('files/small');
    await new Promise((resolve) => setImmediate(resolve));
    expect(sent).toEqual([]);
    stream.destroy();
  });

  it('deletes one blob, or every blob under a prefix, and nothing beside it', async () => {
    for (const key of ['d/a', 'd/b/c', 'dx', 'd.json']) await store.writeBuffer(key, key);
    const appender = await store.openAppend('d/appended', 0);
    await appender.append('abc');
    await appender.close();

    await store.delete('d');
    for (const key of ['d/a', 'd/b/c', 'd/appended']) expect(await store.size(key)).toBeUndefined();
    expect(await store.size('dx')).toBe(2);
    expect(await store.size('d.json')).toBe(6);
    await store.delete('dx');
    expect(await store.size('dx')).toBeUndefined();
    await store.delete('never-there');
  });

  it('deletes across list pages', async () => {
    for (let i = 0; i < 1005; i += 67) {
      await Promise.all(Array.from({ length: 67 }, (_, j) => store.writeBuffer(`many/${i + j}`, 'x')));
    }
    await store.delete('many');
    expect(await store.size('many/0')).toBeUndefined();
    expect(await store.size('many/1004')).toBeUndefined();
  });

  describe('appends (chunk part files)', () => {
    const key = 'batches/b1/chunks/0.out.jsonl';
    /** A second store with its own client: another worker process resuming the chunk. */
    let other: S3BlobStore;
    let otherClient: S3Client;

    beforeAll(() => {
      otherClient = createS3Client({
        S3_ENDPOINT: server.endpoint,
        S3_FORCE_PATH_STYLE: 'true',
        AWS_REGION: 'us-east-1',
      });
      other = new S3BlobStore(otherClient, bucket, prefix);
    });
    afterAll(() => otherClient.destroy());

    it('makes each sync durable, and a reopen truncates to the checkpoint within a segment or at a boundary', async () => {
      const first = await store.openAppend(key, 0);
      await first.append('line-1\n');
      await first.append(Buffer.from('line-2\n'));
      expect(first.size).toBe(14);
      await first.sync();
      await first.append('line-3\n');
      await first.sync();
      await first.sync(); // nothing new: no empty segment
      await first.append('line-4 (never synced)\n');
      expect(count('PutObjectCommand')).toBe(2);
      // Synced bytes are visible to any process; the unsynced tail is not.
      expect(await text(other.read(key))).toBe('line-1\nline-2\nline-3\n');
      expect(await other.size(key)).toBe(21);
      expect(await text(other.read(key, { start: 10, end: 18 }))).toBe('e-2\nline'); // across segments

      // A worker crashed after the checkpoint at 10 bytes (inside the first segment); a retry elsewhere resumes.
      const resumed = await other.openAppend(key, 10);
      expect(resumed.size).toBe(10);
      expect(await text(store.read(key))).toBe('line-1\nlin');
      await resumed.append('e-2 again\n');
      await resumed.sync();
      expect(await text(store.read(key))).toBe('line-1\nline-2 again\n');
      await resumed.append('line-3 again\n');
      await resumed.close();
      const full = 'line-1\nline-2 again\nline-3 again\n';
      expect(await text(store.read(key))).toBe(full);

      // The checkpoint falls exactly on a segment boundary (20 = the end of the second segment).
      const atBoundary = await store.openAppend(key, 20);
      expect(await text(store.read(key))).toBe(full.slice(0, 20));
      await atBoundary.append('tail\n');
      await atBoundary.close();
      expect(await text(store.read(key))).toBe(`${full.slice(0, 20)}tail\n`);
      expect(await store.size(key)).toBe(25);
      expect((await store.readBuffer(key))?.toString()).toBe(`${full.slice(0, 20)}tail\n`);

      // Back to nothing.
      const empty = await store.openAppend(key, 0);
      expect(empty.size).toBe(0);
      await empty.close();
      expect(await store.size(key)).toBeUndefined();
    });

    it('refuses a checkpoint past what is stored', async () => {
      const a = await store.openAppend(`${key}.short`, 0);
      await a.append('abc');
      await a.close();
      await expect(store.openAppend(`${key}.short`, 4)).rejects.toThrow(/holds 3 bytes/);
    });

    it('keeps the bytes of a failed sync for the next one', async () => {
      const k = `${key}.retry`;
      const a = await store.openAppend(k, 0);
      await a.append('one\n');
      failNext = 'PutObjectCommand';
      await expect(a.sync()).rejects.toThrow('injected');
      expect(a.size).toBe(4);
      expect(await store.size(k)).toBeUndefined();
      await a.append('two\n');
      await a.sync();
      expect(await text(store.read(k))).toBe('one\ntwo\n');
      await a.close();
    });
  });

  describe('open', () => {
    const config = (url: string) => ({
      BLOB_URL: url,
      S3_ENDPOINT: server.endpoint,
      S3_FORCE_PATH_STYLE: 'true' as const,
      AWS_REGION: 'us-east-1',
    });

    it('uses the bucket and prefix of BLOB_URL', async () => {
      await store.writeBuffer('probe', 'abc');
      const opened = await S3BlobStore.open(config(`s3://${bucket}/some/prefix`));
      try {
        expect(await opened.size('probe')).toBe(3);
      } finally {
        opened.close();
      }
    });

    it('checks readiness with HeadBucket: ready while the bucket is there, not once it is gone', async () => {
      const gone = 'readiness-probe';
      await client.send(new CreateBucketCommand({ Bucket: gone }));
      const opened = await S3BlobStore.open(config(`s3://${gone}`));
      try {
        await expect(opened.check()).resolves.toBeUndefined();
        await client.send(new DeleteBucketCommand({ Bucket: gone }));
        await expect(opened.check()).rejects.toThrow();
      } finally {
        opened.close();
      }
    });

    it('fails at once, naming the problem, on a missing bucket or an unknown access key', async () => {
      await expect(S3BlobStore.open(config('s3://no-such-bucket/x'))).rejects.toThrow(
        /BLOB_URL=s3:\/\/no-such-bucket\/x: cannot use bucket no-such-bucket at http.*: the bucket does not exist/,
      );
      process.env.AWS_ACCESS_KEY_ID = 'UNKNOWN';
      try {
        await expect(S3BlobStore.open(config(`s3://${bucket}`))).rejects.toThrow(/access denied/);
      } finally {
        process.env.AWS_ACCESS_KEY_ID = S3RVER_CREDENTIALS.accessKeyId;
      }
    });
  });
});
