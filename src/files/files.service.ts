import { listPage } from '../common/list-page';
import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import type { Multipart, MultipartFile } from '@fastify/multipart';
import type { FastifyRequest } from 'fastify';
import type { Readable } from 'node:stream';
import { APP_CONFIG, type AppConfig } from '../config/config';
import {
  InvalidRequestError,
  NotFoundError,
  RateLimitError,
  ServiceUnavailableError,
  StorageFullError,
} from '../common/errors';
import { newFileId } from '../common/ids';
import { zodToInvalidRequest } from '../common/zod-validation.pipe';
import { BlobTooLargeError } from '../storage/blob.store';
import type { FileRow, NewFile } from '../storage/file.store';
import { STORAGE } from '../storage/storage.module';
import type { Storage } from '../storage/storage';
import { uploadFieldsSchema, type FileObject, type ListFilesQuery } from './files.schemas';
import { UploadAdmission } from './upload-admission';
import { watchUploadPace } from './upload-watchdog';
import { nowSeconds } from '../common/clock';

/** Default lifetime of an uploaded batch input file: 30 days. */
const DEFAULT_INPUT_TTL_SECONDS = 30 * 24 * 3600;

/** Serializes a file row as the OpenAI File object. */
export function toFileObject(row: NewFile): FileObject {
  return {
    id: row.id,
    object: 'file',
    bytes: Number(row.bytes),
    created_at: Number(row.created_at),
    expires_at: row.expires_at === null ? null : Number(row.expires_at),
    filename: row.filename,
    purpose: row.purpose,
    status: 'processed',
    status_details: null,
  };
}

/** Keeps the last path segment and drops control characters, so a filename is only ever a label. */
export function cleanFilename(raw: string): string {
  const base = raw.split(/[/\\]/).pop() ?? '';
  return (
    base
      // eslint-disable-next-line no-control-regex
      .replace(/[\u0000-\u001f\u007f]/g, '')
      .slice(0, 255)
      .trim()
  );
}

/** Errors of the blob storage itself (not of the request): the service cannot store files right now. */
const STORAGE_FAULTS = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'EISDIR', 'EIO', 'EEXIST']);

/** Upload, list, read and delete files. Uploads stream to the blob store; a failed one leaves nothing. */
@Injectable()
export class FilesService implements OnModuleInit {
  private readonly logger = new Logger('files');
  private readonly admission: UploadAdmission;

  constructor(
    @Inject(STORAGE) private readonly storage: Storage,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.admission = new UploadAdmission({
      maxUploads: config.MAX_CONCURRENT_UPLOADS,
      maxPerOwner: config.MAX_CONCURRENT_UPLOADS_PER_OWNER,
      maxBytes: config.MAX_UPLOAD_BYTES_IN_FLIGHT,
      maxUploadBytes: config.MAX_UPLOAD_BYTES,
    });
  }

  /** An API killed mid-upload leaves a temp file behind; the next start removes it. */
  async onModuleInit(): Promise<void> {
    const removed = await this.storage.blobs.sweepTemp?.();
    if (removed) this.logger.log(`removed ${removed} unfinished upload(s) left by a stopped process`);
  }

  /** Streams a multipart upload into storage, then records it; any failure removes the blob. */
  async upload(owner: string, req: FastifyRequest): Promise<FileObject> {
    if (!req.isMultipart()) {
      throw new InvalidRequestError('Uploads must be sent as multipart/form-data with a `file` and a `purpose` field.');
    }
    const length = Number(req.headers['content-length']);
    const ticket = this.admission.admit(owner, Number.isFinite(length) && length > 0 ? length : undefined);
    if ('refused' in ticket) throw new RateLimitError(ticket.refused, 1);
    const stopWatching = watchUploadPace(
      req.raw,
      { windowMs: this.config.UPLOAD_RATE_WINDOW_MS, minBytesPerSecond: this.config.UPLOAD_MIN_BYTES_PER_SECOND },
      () =>
        this.logger.warn(
          `upload cut off: the client sent less than ${this.config.UPLOAD_MIN_BYTES_PER_SECOND} bytes/s over ` +
            `${this.config.UPLOAD_RATE_WINDOW_MS} ms`,
        ),
    );
    try {
      return await this.receive(owner, req);
    } finally {
      stopWatching();
      ticket.release();
    }
  }

  private async receive(owner: string, req: FastifyRequest): Promise<FileObject> {
    const id = newFileId();
    const blobKey = `files/${id}`;
    try {
      const { fields, file } = await this.receiveParts(req, blobKey);
      const parsed = uploadFieldsSchema.safeParse(fields);
      if (!parsed.success) throw zodToInvalidRequest(parsed.error);
      if (!file) throw new InvalidRequestError("Missing required parameter: 'file'.", 'file');
      const filename = cleanFilename(file.filename);
      if (!filename) throw new InvalidRequestError('The uploaded file needs a filename.', 'file');
      if (parsed.data.purpose === 'batch' && !filename.toLowerCase().endsWith('.jsonl')) {
        throw new InvalidRequestError('Invalid file format for Batch API. Must be .jsonl', 'file');
      }
      const createdAt = nowSeconds();
      const ttl = parsed.data['expires_after[seconds]'] ?? DEFAULT_INPUT_TTL_SECONDS;
      const row: NewFile = {
        id,
        owner,
        purpose: parsed.data.purpose,
        filename,
        bytes: file.bytes,
        created_at: createdAt,
        expires_at: createdAt + ttl,
        blob_key: blobKey,
      };
      await this.storage.files.insert(row);
      return toFileObject(row);
    } catch (err) {
      await this.storage.blobs.delete(blobKey);
      throw this.uploadError(err);
    }
  }

  private async receiveParts(req: FastifyRequest, blobKey: string) {
    const fields: Record<string, string> = {};
    let file: { filename: string; bytes: number } | undefined;
    const limit = this.config.MAX_UPLOAD_BYTES;
    const parts: AsyncIterableIterator<Multipart> = req.parts({
      limits: { fileSize: limit, files: 1, fields: 16, fieldSize: 4096, parts: 20 },
    });
    for await (const part of parts) {
      if (part.type === 'file') {
        file = await this.receiveFile(part, blobKey, limit);
      } else {
        fields[part.fieldname] = String(part.value);
      }
    }
    return { fields, file };
  }

  private async receiveFile(part: MultipartFile, blobKey: string, limit: number) {
    if (part.fieldname !== 'file') {
      part.file.resume();
      throw new InvalidRequestError(
        `Unexpected file field '${part.fieldname}'; send the file as 'file'.`,
        part.fieldname,
      );
    }
    const bytes = await this.storage.blobs.write(blobKey, part.file as Readable, limit);
    if (part.file.truncated) throw new BlobTooLargeError(limit);
    return { filename: part.filename, bytes };
  }

  private uploadError(err: unknown): unknown {
    const code = (err as { code?: string }).code;
    if (err instanceof BlobTooLargeError || code === 'FST_REQ_FILE_TOO_LARGE') {
      return new InvalidRequestError('File is too large.', 'file', 'file_too_large');
    }
    if (code === 'FST_FILES_LIMIT') return new InvalidRequestError('Send exactly one file per upload.', 'file');
    if (code === 'FST_FIELDS_LIMIT' || code === 'FST_PARTS_LIMIT') {
      return new InvalidRequestError('Too many form fields in the upload.');
    }
    if (code === 'FST_INVALID_MULTIPART_CONTENT_TYPE' || code === 'FST_PROTO_VIOLATION') {
      return new InvalidRequestError('The multipart form could not be read.');
    }
    if (code === 'ENOSPC' || code === 'EDQUOT') {
      this.logger.error(`upload refused: blob storage is full (${code})`);
      return new StorageFullError(
        "The server's file storage is full, so the upload was discarded. Free space or ask the operator, then retry.",
      );
    }
    if (code && STORAGE_FAULTS.has(code)) {
      this.logger.error(`upload refused: blob storage is not writable (${code})`);
      return new ServiceUnavailableError(
        `The server's file storage is not writable (${code}), so the upload was discarded. Retry later.`,
        null,
        'storage_unavailable',
      );
    }
    return err;
  }

  /** A page of the owner's files. */
  async list(owner: string, query: ListFilesQuery) {
    const { rows, hasMore } = await this.storage.files.list(owner, query);
    const data = rows.map(toFileObject);
    return listPage(data, hasMore);
  }

  /** The owner's file row, or a 404. */
  async getRow(owner: string, id: string): Promise<FileRow> {
    const row = await this.storage.files.get(owner, id);
    if (!row) throw new NotFoundError(`No such File object: ${id}`, 'id');
    return row;
  }

  /** The File object. */
  async retrieve(owner: string, id: string): Promise<FileObject> {
    return toFileObject(await this.getRow(owner, id));
  }

  /** The file's bytes as a stream, with its length. */
  async content(owner: string, id: string): Promise<{ stream: Readable; bytes: number; filename: string }> {
    const row = await this.getRow(owner, id);
    return { stream: this.storage.blobs.read(row.blob_key), bytes: Number(row.bytes), filename: row.filename };
  }

  /**
   * Deletes the row first (so the file vanishes at once), then its blob. The input of a batch that has not ended is
   * gone from the API at once too, but its blob stays until that batch has ended; maintenance removes it then.
   */
  async delete(owner: string, id: string) {
    const row = await this.getRow(owner, id);
    const outcome = await this.storage.files.delete(owner, id, nowSeconds());
    if (outcome === 'missing') throw new NotFoundError(`No such File object: ${id}`, 'id');
    if (outcome === 'removed') await this.storage.blobs.delete(row.blob_key);
    return { id, object: 'file' as const, deleted: true as const };
  }
}
