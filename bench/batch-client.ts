import { createReadStream } from 'node:fs';
import OpenAI from 'openai';
import type { Batch } from 'openai/resources/batches';
import { sleep } from './stats';

/** Milliseconds from the start of upload to each step of one batch run. */
export interface BatchTimings {
  /** Epoch ms at the start of the upload (the zero of the other fields). */
  startedAt: number;
  uploadedMs: number;
  createdMs: number;
  /** First poll that saw `in_progress` (or later: the poll may miss it entirely on a tiny batch). */
  inProgressMs: number;
  completedMs: number;
  downloadedMs: number;
  /** completedMs - inProgressMs: the processing phase as polling sees it. */
  processingMs: number;
  outputLines: number;
  batchId: string;
  polls: number;
}

/** How often a batch is polled unless the scenario asks for finer (B2, whose measure is the processing time). */
const POLL_MS = 250;
const FAILED = new Set(['failed', 'expired', 'cancelled', 'cancelling']);

/** The official OpenAI client pointed at the bench's API. */
export const clientFor = (apiUrl: string): OpenAI => new OpenAI({ baseURL: apiUrl, apiKey: 'bench', maxRetries: 0 });

/** Uploads `inputPath` and creates a chat batch from it (`onUploaded` runs between the two). */
export async function createBatch(client: OpenAI, inputPath: string, onUploaded?: () => void): Promise<Batch> {
  const file = await client.files.create({ file: createReadStream(inputPath), purpose: 'batch' });
  onUploaded?.();
  return client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
}

/**
 * Uploads `inputPath`, creates a batch, polls it every `pollMs` until completed and downloads the output; throws on
 * any failure. Both ends of the processing phase are seen up to `pollMs` late.
 */
export async function runBatch(
  apiUrl: string,
  inputPath: string,
  lines: number,
  timeoutMs: number,
  pollMs = POLL_MS,
): Promise<BatchTimings> {
  const client = clientFor(apiUrl);
  const startedAt = Date.now();
  const t0 = performance.now();
  const at = () => performance.now() - t0;
  let uploadedMs = 0;
  const created = await createBatch(client, inputPath, () => (uploadedMs = at()));
  const createdMs = at();
  const { batch, inProgressMs, polls } = await pollUntilDone(client, created, at, timeoutMs, pollMs);
  const completedMs = at();
  if (batch.request_counts?.completed !== lines) {
    throw new Error(`batch ${batch.id}: ${JSON.stringify(batch.request_counts)} completed, expected ${lines}`);
  }
  const outputLines = await countLines(client, batch.output_file_id);
  const downloadedMs = at();
  if (outputLines !== lines) throw new Error(`batch ${batch.id}: output has ${outputLines} lines, expected ${lines}`);
  return {
    startedAt,
    uploadedMs,
    createdMs,
    inProgressMs: inProgressMs ?? createdMs,
    completedMs,
    downloadedMs,
    processingMs: completedMs - (inProgressMs ?? createdMs),
    outputLines,
    batchId: batch.id,
    polls,
  };
}

async function pollUntilDone(client: OpenAI, batch: Batch, at: () => number, timeoutMs: number, pollMs: number) {
  const deadline = Date.now() + timeoutMs;
  let inProgressMs: number | undefined;
  let polls = 0;
  while (batch.status !== 'completed') {
    if (FAILED.has(batch.status))
      throw new Error(`batch ${batch.id} ended ${batch.status}: ${JSON.stringify(batch.errors)}`);
    if (Date.now() > deadline) throw new Error(`batch ${batch.id} still ${batch.status} after ${timeoutMs} ms`);
    await sleep(pollMs);
    batch = await client.batches.retrieve(batch.id);
    polls++;
    if (inProgressMs === undefined && batch.status !== 'validating') inProgressMs = at();
  }
  return { batch, inProgressMs, polls };
}

async function countLines(client: OpenAI, fileId: string | null | undefined): Promise<number> {
  if (!fileId) return 0;
  const res = await client.files.content(fileId);
  if (!res.body) return 0;
  let lines = 0;
  for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
  }
  return lines;
}
