import { newValidatingBatch } from '../../src/storage/batch.store';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createReadStream, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { makeValidateInput } from '../../activities/validate-input';
import type { ActivityDeps } from '../../activities/deps';
import { loadConfig } from '../../src/config/config';
import { activityDeps } from '../../src/worker/activity-deps';
import type { ValidateInputResult } from '../../activities/types';
import { openStorage, type Storage } from '../../src/storage/storage';
import { parseJsonlFile } from '../bare-parse';
import type { BenchContext, InputFile, Scenario } from '../context';
import type { ScenarioResult } from '../report';
import { median, round, secs } from '../stats';

const REPS = 3;
const FILE_ID = 'file-bench-b4';
const BATCH_ID = 'batch_bench_b4';

/** Copies the input into real storage and records the file and a `validating` batch over it. */
async function seed(storage: Storage, input: InputFile): Promise<void> {
  const blobKey = `files/${FILE_ID}`;
  const bytes = await storage.blobs.write(blobKey, createReadStream(input.path));
  const now = Math.floor(Date.now() / 1000);
  await storage.files.insert({
    id: FILE_ID,
    owner: 'default',
    purpose: 'batch',
    filename: 'b4.jsonl',
    bytes,
    created_at: now,
    expires_at: null,
    blob_key: blobKey,
  });
  await storage.batches.insert(
    newValidatingBatch({
      id: BATCH_ID,
      owner: 'default',
      endpoint: '/v1/chat/completions',
      input_file_id: FILE_ID,
      completion_window: '24h',
      created_at: now,
      expires_at: now + 86400,
    }),
  );
}

/** The worker's own activity deps over this storage, as the brief's settings; validation never calls upstream. */
function depsFor(storage: Storage): ActivityDeps {
  const config = loadConfig({
    UPSTREAM_BASE_URL: 'http://127.0.0.1:9/v1',
    COMPLETION_WINDOW_SECONDS: '86400',
    CHUNK_SIZE: '500',
    CHUNK_WINDOW: '8',
    CHECKPOINT_INTERVAL_MS: '1000',
    MAX_BATCH_REQUESTS: '50000',
  });
  return activityDeps(config, storage);
}

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await fn();
  return { ms: performance.now() - t0, value };
}

async function run(ctx: BenchContext): Promise<ScenarioResult> {
  const input = await ctx.bigInput();
  const dataDir = mkdtempSync(join(ctx.tmpDir, 'b4-data-'));
  const storage = await openStorage({ DATA_DIR: dataDir, DATABASE_URL: undefined });
  const deps = depsFor(storage);
  try {
    await seed(storage, input);
    const validate = makeValidateInput(deps);
    const env = new MockActivityEnvironment();
    const bare: number[] = [];
    const validation: number[] = [];
    // One untimed pass of each first, so neither side pays for cold code or a cold page cache.
    await parseJsonlFile(input.path);
    await env.run(validate, { batchId: BATCH_ID });
    // Interleaved so drift (page cache, thermal, GC state) hits both sides alike.
    for (let i = 0; i < REPS; i++) {
      const parsed = await timed(() => parseJsonlFile(input.path));
      if (parsed.value !== input.lines)
        throw new Error(`bare parse saw ${parsed.value} lines, expected ${input.lines}`);
      bare.push(parsed.ms);
      const checked = await timed(() => env.run(validate, { batchId: BATCH_ID }) as Promise<ValidateInputResult>);
      if (!checked.value.ok || checked.value.total !== input.lines) {
        throw new Error(`validation result ${JSON.stringify(checked.value)}, expected ok with ${input.lines}`);
      }
      validation.push(checked.ms);
    }
    const ratio = median(validation) / median(bare);
    const mbLabel = `${(input.bytes / 1e6).toFixed(0)} MB`;
    return {
      rows: [
        {
          id: 'B4',
          scenario: `validation: ${mbLabel}, ${input.lines} lines, in-process (median of ${REPS})`,
          measured: secs(median(validation)),
          baseline: `${secs(median(bare))} read+JSON.parse`,
          ratio,
          target: '<= 2',
          pass: ratio <= 2,
        },
      ],
      raw: {
        inputBytes: input.bytes,
        lines: input.lines,
        validationMs: validation,
        bareParseMs: bare,
        ratio: round(ratio, 3),
      },
      notes: [],
    };
  } finally {
    await deps.router.close();
    await storage.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** B4: validating an input costs little more than parsing it. */
export const b4: Scenario = { id: 'B4', title: 'validation', run };
