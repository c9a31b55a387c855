import S3rver from 's3rver';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile, readdir, rm, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** s3rver's fixed account (it checks the access key id; its V4 signature check is incomplete). */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

/** A running S3-compatible server for tests. */
export interface S3TestServer {
  endpoint: string;
  stop(): Promise<void>;
}

/** This file compiled (the suite's global setup builds dist/ first): the child process runs it. */
const SCRIPT = __filename.endsWith('.js') ? __filename : join(__dirname, '../../dist/test/support/s3-test-server.js');

/**
 * Starts s3rver in a child process on a free loopback port over a fresh temp directory (path-style requests). The
 * child runs with the OpenSSL legacy provider: s3rver encrypts ListObjectsV2 continuation tokens with DES, which
 * OpenSSL 3 refuses otherwise, so any listing longer than one page would fail. It exits when its stdin closes,
 * which includes this process dying.
 */
export async function startS3TestServer(): Promise<S3TestServer> {
  const child = spawn(process.execPath, ['--openssl-legacy-provider', SCRIPT], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const endpoint = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const listening = /^listening on (\S+)$/m.exec(out);
      if (listening) resolve(listening[1]);
    });
    void exited.then((code) => reject(new Error(`the S3 test server exited (${code}) before listening:\n${out}`)));
  });
  return {
    endpoint,
    async stop() {
      child.stdin.end();
      await exited;
    },
  };
}

/** The child process: serve until stdin closes, then remove the data. */
async function serve(): Promise<void> {
  const directory = mkdtempSync(join(tmpdir(), 'batch-s3-'));
  const server = new S3rverWithUploads(directory);
  const { port } = await server.run();
  process.stdout.write(`listening on http://127.0.0.1:${port}\n`);
  process.stdin.on('close', () => {
    rmSync(directory, { recursive: true, force: true });
    process.exit(0);
  });
  process.stdin.resume();
}

/**
 * s3rver 3.7 answers AbortMultipartUpload with 405 and ListMultipartUploads with 501 (an open upstream pull
 * request adds the first). This adds both, over s3rver's own record of an upload in progress: the directory
 * `<bucket>/._S3rver_uploads/<uploadId>/` holding a `key` file, which CompleteMultipartUpload removes. Without them
 * a failed upload could not clean up, and tests could not see whether it did. These two skip signature checks.
 */
class S3rverWithUploads extends S3rver {
  constructor(private readonly directory: string) {
    super({ address: '127.0.0.1', port: 0, silent: true, directory });
  }

  callback(): (req: IncomingMessage, res: ServerResponse) => void {
    const s3rver = super.callback();
    return (req, res) => {
      const url = new URL(req.url ?? '/', 'http://s3');
      const [bucket, ...rest] = url.pathname.slice(1).split('/').map(decodeURIComponent);
      const key = rest.join('/');
      const uploads = join(this.directory, bucket, '._S3rver_uploads');
      let handled: Promise<void> | undefined;
      if (req.method === 'DELETE' && key && url.searchParams.has('uploadId')) {
        handled = abortUpload(uploads, key, url.searchParams.get('uploadId')!, res);
      } else if (req.method === 'GET' && !key && url.searchParams.has('uploads')) {
        handled = listUploads(uploads, bucket, url.searchParams.get('prefix') ?? '', res);
      }
      if (!handled) return s3rver(req, res);
      req.resume();
      handled.catch((err: unknown) => reply(res, 500, errorXml('InternalError', String(err))));
    };
  }
}

async function abortUpload(uploads: string, key: string, uploadId: string, res: ServerResponse): Promise<void> {
  const dir = join(uploads, uploadId.replace(/[^0-9a-f]/gi, ''));
  const storedKey = await readFile(join(dir, 'key'), 'utf8').catch(() => undefined);
  if (storedKey !== key) return reply(res, 404, errorXml('NoSuchUpload', 'The specified upload does not exist.'));
  await rm(dir, { recursive: true, force: true });
  reply(res, 204, '');
}

async function listUploads(uploads: string, bucket: string, prefix: string, res: ServerResponse): Promise<void> {
  const ids = await readdir(uploads).catch(() => [] as string[]);
  const entries: string[] = [];
  for (const id of ids.sort()) {
    const key = await readFile(join(uploads, id, 'key'), 'utf8').catch(() => undefined);
    if (key === undefined || !key.startsWith(prefix)) continue;
    const initiated = (await stat(join(uploads, id))).birthtime.toISOString();
    entries.push(
      `<Upload><Key>${xml(key)}</Key><UploadId>${id}</UploadId><Initiated>${initiated}</Initiated></Upload>`,
    );
  }
  reply(
    res,
    200,
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
      '<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
      `<Bucket>${xml(bucket)}</Bucket><Prefix>${xml(prefix)}</Prefix><MaxUploads>1000</MaxUploads>` +
      `<IsTruncated>false</IsTruncated>${entries.join('')}</ListMultipartUploadsResult>`,
  );
}

const xml = (s: string): string =>
  s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);

const errorXml = (code: string, message: string): string =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${xml(message)}</Message></Error>`;

function reply(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, body ? { 'content-type': 'application/xml' } : {});
  res.end(body);
}

if (require.main === module) {
  serve().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
