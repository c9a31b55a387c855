import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { batchKeys, type ChunkIndex } from '../batch-format/blob-layout';
import type { ChunkState } from '../batch-format/chunk-state';
import { emptyUsage } from '../batch-format/usage';
import { loadConfig } from '../config/config';
import { testBatchRow } from '../../test/support/batch-rows';
import { openStorage, type Storage } from '../storage/storage';
import { decodeCursor } from './result-cursor';
import { ResultsService } from './results.service';

const line = (id: string) =>
  `{"id":"batch_req_${id}","custom_id":"${id}","response":{"status_code":200},"error":null}\n`;

describe('ResultsService while finalize ends the batch', () => {
  let dir: string;
  let storage: Storage;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'results-service-'));
    storage = await openStorage(loadConfig({ DATA_DIR: dir }));
  });
  afterAll(async () => {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A running batch of one chunk of two requests, both answered and checkpointed by the attempt with token 1. */
  async function runningBatch(id: string): Promise<string> {
    await storage.batches.insert({
      ...testBatchRow(id, { input_file_id: 'file-in' }),
      status: 'in_progress',
      total: 2,
    });
    const keys = batchKeys(id);
    const index: ChunkIndex = {
      endpoint: '/v1/chat/completions',
      inputBlobKey: 'files/file-in',
      chunks: [{ start: 0, end: 10, count: 2, firstLine: 1 }],
    };
    await storage.blobs.writeBuffer(keys.index, JSON.stringify(index));
    const lines = line(`${id}-a`) + line(`${id}-b`);
    await storage.blobs.writeBuffer(keys.out(0, 1), lines);
    const state: ChunkState = {
      outBytes: Buffer.byteLength(lines),
      errBytes: 0,
      done: [0, 1],
      completed: 2,
      failed: 0,
      usage: emptyUsage(),
      attempt: 1,
    };
    const token = await storage.batches.claimChunk(id, 0, async () => ({
      completed: 2,
      failed: 0,
      usage: emptyUsage(),
      state: JSON.stringify(state),
    }));
    expect(token).toBe(1);
    return lines;
  }

  /** What finalize does: the output file and the layout, the end status, then the working files removed. */
  async function finalize(id: string, lines: string): Promise<void> {
    await storage.blobs.writeBuffer(`files/${id}-out`, lines);
    await storage.files.insert({
      id: `${id}-out`,
      owner: 'o',
      purpose: 'batch_output',
      filename: 'out.jsonl',
      bytes: Buffer.byteLength(lines),
      created_at: 1,
      expires_at: null,
      blob_key: `files/${id}-out`,
    });
    await storage.batches.saveResultLayout(id, JSON.stringify({ out: [Buffer.byteLength(lines)], err: [0] }));
    await storage.batches.transition(id, ['in_progress'], 'completed', { output_file_id: `${id}-out` });
    await storage.batches.clearChunkProgress(id);
    await storage.blobs.delete(batchKeys(id).dir);
  }

  it('serves a page read while running from the final file when finalize removed the part files meanwhile', async () => {
    const lines = await runningBatch('batch_race');
    const page = await new ResultsService(storage).page('o', 'batch_race');
    expect(page.complete).toBe(false);
    // The chunk had every request answered: the cursor marks it complete.
    expect(decodeCursor('batch_race', page.nextCursor)).toEqual({ end: false, chunks: ['complete'] });
    // Finalize runs between the page's snapshot and its streaming.
    await finalize('batch_race', lines);
    expect(await text(page.lines)).toBe(lines);
    // The next page: nothing more, and complete.
    const next = await new ResultsService(storage).page('o', 'batch_race', page.nextCursor);
    expect(await text(next.lines)).toBe('');
    expect(next.complete).toBe(true);
  });

  it('fails the page when a part file is gone and the batch has not ended', async () => {
    await runningBatch('batch_lost');
    const page = await new ResultsService(storage).page('o', 'batch_lost');
    await storage.blobs.delete(batchKeys('batch_lost').out(0, 1));
    await expect(text(page.lines)).rejects.toThrow();
  });
});
