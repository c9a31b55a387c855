import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { constants } from 'node:fs';
import { access, mkdir, open, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join, resolve, sep } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** Thrown when a stream written to the blob store passes its byte limit. */
export class BlobTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`blob exceeds ${limit} bytes`);
  }
}

/** A pass-through stream that counts bytes and fails with BlobTooLargeError past `maxBytes`. */
export function byteLimit(maxBytes: number): Transform & { readonly bytes: number } {
  let bytes = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      bytes += chunk.length;
      if (bytes > maxBytes) done(new BlobTooLargeError(maxBytes));
      else done(null, chunk);
    },
  });
  return Object.defineProperty(counter, 'bytes', { get: () => bytes }) as Transform & { readonly bytes: number };
}

/**
 * fsync on `path`: a file's bytes (fsync works on the file, whichever descriptor asks), or a directory's entries (a
 * file just created or renamed into it; fsync on the file alone does not cover its name).
 */
async function syncPath(path: string, kind: 'file' | 'dir'): Promise<void> {
  const fh = await open(path, kind === 'file' ? 'r+' : 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * `mkdir -p` whose new directories survive a power loss: each one made is synced into its parent (the parent of the
 * first one made is an existing directory, synced too).
 */
async function makeDir(dir: string): Promise<void> {
  const first = await mkdir(dir, { recursive: true });
  if (first === undefined) return;
  for (let d = dir; ; d = dirname(d)) {
    await syncPath(dirname(d), 'dir');
    if (d === first || dirname(d) === d) break;
  }
}

/** An append handle on a blob, for chunk part files that grow and are checkpointed. */
export interface BlobAppender {
  /** Bytes in the blob so far. */
  readonly size: number;
  append(data: Buffer | string): Promise<void>;
  /**
   * Makes the bytes appended so far durable, so a checkpoint may name the current size. After a failure, a later
   * sync either stores those bytes too or fails again: it never reports success for bytes that were lost.
   */
  sync(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Where file contents and a batch's working files live. Keys are relative paths (`files/...`, `batches/...`).
 * A blob written by `write` or `writeBuffer` is visible only once complete; a failed write leaves nothing.
 */
export interface BlobStore {
  /** Streams `source` into `key`, enforcing `maxBytes` while streaming; returns the byte count. */
  write(key: string, source: Readable, maxBytes?: number): Promise<number>;
  /** Writes a small blob at once. */
  writeBuffer(key: string, data: Buffer | string): Promise<void>;
  /** Reads a whole small blob, or undefined when it does not exist. */
  readBuffer(key: string): Promise<Buffer | undefined>;
  /**
   * A stream over the blob, optionally a byte range [start, end). `readBytes` is how much a filesystem read takes at a
   * time (64 KiB by default): a large copy (finalize joining part files) takes fewer, larger reads.
   */
  read(key: string, range?: { start: number; end: number }, readBytes?: number): Readable;
  /** The blob's size in bytes, or undefined. */
  size(key: string): Promise<number | undefined>;
  /** Opens `key` for appending after truncating it to `validBytes` (the last checkpoint). */
  openAppend(key: string, validBytes: number): Promise<BlobAppender>;
  /** Removes a blob or every blob under a prefix; missing is fine. */
  delete(key: string): Promise<void>;
  /** Removes temporary upload data left by crashed processes; returns how many were removed. */
  sweepTemp?(): Promise<number>;
  /** Resolves when the store can be written now (readiness); rejects with the reason otherwise. */
  check(): Promise<void>;
}

/** Temporary uploads older than this are removed whoever wrote them. */
export const STALE_TEMP_MS = 24 * 3600 * 1000;

/** Whether a process with this pid is alive on this host. */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Blobs on the filesystem under one root. Writes are atomic: a temp file renamed into place. */
export class FsBlobStore implements BlobStore {
  private readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  /** The root directory exists (or can be made) and is writable: a read-only or missing volume fails. */
  async check(): Promise<void> {
    await mkdir(this.root, { recursive: true });
    await access(this.root, constants.W_OK);
  }

  private pathOf(key: string): string {
    const path = resolve(this.root, key);
    if (!path.startsWith(this.root + sep)) throw new Error(`blob key escapes the store: ${key}`);
    return path;
  }

  /** Streams `source` into `key`, enforcing `maxBytes` while streaming; nothing is left behind on failure. */
  async write(key: string, source: Readable, maxBytes = Number.MAX_SAFE_INTEGER): Promise<number> {
    const target = this.pathOf(key);
    // The name says which process writes it, so a crashed writer's leftovers can be swept (sweepTemp).
    const tmp = join(this.root, 'tmp', `${hostname()}~${process.pid}~${randomBytes(12).toString('hex')}.part`);
    await makeDir(dirname(tmp));
    await makeDir(dirname(target));
    const counter = byteLimit(maxBytes);
    try {
      await pipeline(source, counter, createWriteStream(tmp, { flags: 'wx' }));
      // The bytes reach the disk before the name does, and the name before the caller records the blob: a power
      // loss must not leave a file row (an upload, a batch's output) pointing at an empty or missing blob.
      await syncPath(tmp, 'file');
      await rename(tmp, target);
      await syncPath(dirname(target), 'dir');
      return counter.bytes;
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  /** Writes a small blob at once (atomic). */
  async writeBuffer(key: string, data: Buffer | string): Promise<void> {
    const target = this.pathOf(key);
    const tmp = `${target}.${randomBytes(6).toString('hex')}.tmp`;
    await makeDir(dirname(target));
    try {
      const fh = await open(tmp, 'w');
      try {
        await fh.writeFile(data);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, target);
      await syncPath(dirname(target), 'dir');
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  /** Reads a whole small blob, or undefined when it does not exist. */
  async readBuffer(key: string): Promise<Buffer | undefined> {
    const fh = await open(this.pathOf(key), 'r').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (!fh) return undefined;
    try {
      return await fh.readFile();
    } finally {
      await fh.close();
    }
  }

  /** A stream over the blob, optionally a byte range [start, end), `readBytes` at a time. */
  read(key: string, range?: { start: number; end: number }, readBytes?: number): Readable {
    if (range && range.end <= range.start) return Readable.from([]);
    return createReadStream(this.pathOf(key), {
      ...(range ? { start: range.start, end: range.end - 1 } : {}),
      ...(readBytes ? { highWaterMark: readBytes } : {}),
    });
  }

  /** The blob's size in bytes, or undefined. */
  async size(key: string): Promise<number | undefined> {
    try {
      return (await stat(this.pathOf(key))).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  /** Opens `key` for appending after truncating it to `validBytes` (the last checkpoint). */
  async openAppend(key: string, validBytes: number): Promise<BlobAppender> {
    const path = this.pathOf(key);
    await makeDir(dirname(path));
    const existed = await access(path).then(
      () => true,
      () => false,
    );
    const fh: FileHandle = await open(path, 'a+');
    await fh.truncate(validBytes);
    // A new part file's name is made durable by its first sync with bytes, before any checkpoint can count them: the
    // open itself waits for no fsync (a chunk's first request goes out sooner), and a file whose name a crash lost
    // held no counted byte (parts are read only up to their checkpointed length).
    let named = existed;
    let size = validBytes;
    // Whether bytes were appended since the last successful sync: a sync with none to store skips the disk.
    let dirty = false;
    // After a failed write or fsync the file's contents are unknown (a second fsync may report success for pages
    // the first one lost), so every later append and sync fails too.
    let failed: unknown;
    const guarded = async (op: () => Promise<void>): Promise<void> => {
      if (failed) throw failed;
      try {
        await op();
      } catch (err) {
        failed = err;
        throw err;
      }
    };
    return {
      get size() {
        return size;
      },
      append: (data) =>
        guarded(async () => {
          const buf = typeof data === 'string' ? Buffer.from(data) : data;
          await fh.write(buf, 0, buf.length, null);
          size += buf.length;
          dirty = true;
        }),
      sync: () =>
        guarded(async () => {
          if (!dirty) return;
          // Cleared before the fsync: a write that lands while it runs (the chunk writer queues its appends and syncs
          // one after another, but nothing here relies on that) marks the file again for the next sync. A failed fsync
          // fails every later sync (guarded), whatever this says.
          dirty = false;
          await fh.datasync();
          if (!named) {
            await syncPath(dirname(path), 'dir');
            named = true;
          }
        }),
      close: () => fh.close(),
    };
  }

  /** Removes a blob or a whole prefix; missing is fine. */
  async delete(key: string): Promise<void> {
    await rm(this.pathOf(key), { force: true, recursive: true });
  }

  /**
   * Removes temp files of uploads whose process died (same host, pid gone) or that are a day old. Processes on
   * other hosts sharing the directory keep theirs until then.
   */
  async sweepTemp(): Promise<number> {
    const dir = join(this.root, 'tmp');
    const names = await readdir(dir).catch(() => [] as string[]);
    let removed = 0;
    for (const name of names) {
      const [host, pid] = name.split('~');
      const path = join(dir, name);
      const dead = host === hostname() && Number(pid) > 0 && !processAlive(Number(pid));
      const mtime = await stat(path).then(
        (s) => s.mtimeMs,
        () => undefined,
      );
      if (mtime === undefined) continue;
      if (dead || Date.now() - mtime > STALE_TEMP_MS) {
        await rm(path, { force: true });
        removed++;
      }
    }
    return removed;
  }
}
