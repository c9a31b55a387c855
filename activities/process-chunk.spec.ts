import { MockActivityEnvironment } from '@temporalio/testing';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { loadConfig } from '../src/config/config';
import { openStorage, type Storage } from '../src/storage/storage';
import { activityDeps } from '../src/worker/activity-deps';
import { UpstreamSimulator } from '../test/support/upstream-simulator';
import { partsOf } from '../src/batch-format/chunk-state';
import { committedState } from '../src/storage/committed-chunks';
import { batchKeys, type ChunkIndex } from '../src/batch-format/blob-layout';
import type { ActivityDeps } from './deps';
import { makeProcessChunk } from './process-chunk';
import type { ProcessChunkResult } from './types';

const BATCH = 'batch_superseded';
const LINES = 60;

/** The chunk's output as finalize reads it (it fences the chunk first): each part's valid prefix. */
async function committedOutput(deps: ActivityDeps): Promise<{ owner: number; ids: string[] }> {
  const committed = (await deps.batches.fenceChunks(BATCH)).get(0)!;
  const state = await committedState(deps.blobs, BATCH, 0, committed);
  let text = '';
  for (const part of partsOf(state)) {
    if (part.outBytes === 0) continue;
    for await (const b of deps.blobs.read(batchKeys(BATCH).out(0, part.attempt), { start: 0, end: part.outBytes })) {
      text += (b as Buffer).toString();
    }
  }
  const ids = text
    .split('\n')
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { custom_id: string }).custom_id);
  return { owner: committed.owner, ids };
}

describe('processChunk with an attempt Temporal gave up on still running', () => {
  let dir: string;
  let sim: UpstreamSimulator;
  let storage: Storage;
  let deps: ActivityDeps;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'chunk-attempts-'));
    sim = await UpstreamSimulator.start({ latencyMs: 30 });
    const config = loadConfig({
      DATA_DIR: dir,
      UPSTREAM_BASE_URL: sim.baseUrl,
      UPSTREAM_CONCURRENCY: '2',
      CHECKPOINT_INTERVAL_MS: '50',
    });
    storage = await openStorage(config);
    deps = activityDeps(config, storage);
    const lines = Array.from({ length: LINES }, (_, i) =>
      JSON.stringify({
        custom_id: `c-${i}`,
        method: 'POST',
        url: '/v1/chat/completions',
        body: { model: 'm', messages: [{ role: 'user', content: `hi ${i}` }] },
      }),
    );
    const input = Buffer.from(lines.join('\n') + '\n');
    await deps.blobs.write('files/input', Readable.from([input]));
    const index: ChunkIndex = {
      endpoint: '/v1/chat/completions',
      inputBlobKey: 'files/input',
      chunks: [{ start: 0, end: input.length, count: LINES, firstLine: 1 }],
    };
    await deps.blobs.writeBuffer(batchKeys(BATCH).index, JSON.stringify(index));
  });
  afterAll(async () => {
    await deps.router.close();
    await storage.close();
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Waits until the chunk's committed progress reaches `n`. */
  async function committedAtLeast(n: number): Promise<void> {
    const deadline = Date.now() + 20000;
    while ((await storage.batches.chunkProgress(BATCH)).completed < n) {
      if (Date.now() > deadline) throw new Error(`the chunk never committed ${n} results`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  const outcome = (p: Promise<ProcessChunkResult>) =>
    p.then(
      () => 'completed',
      (err: Error) => err.message,
    );

  it('each newer attempt takes over, even one whose attempt number restarted at 1 (a reset); nothing is lost or doubled', async () => {
    const processChunk = makeProcessChunk(deps);
    const run = (attempt: number): Promise<ProcessChunkResult> =>
      new MockActivityEnvironment({ attempt }).run(processChunk, { batchId: BATCH, chunk: 0 });
    // Attempt 1 commits some results; attempt 2 takes over while attempt 1 keeps sending (Temporal gave up on it)...
    const first = outcome(run(1));
    await committedAtLeast(10);
    const second = outcome(run(2));
    await committedAtLeast(25);
    // ...and an operator resets the activity: Temporal's counter starts at 1 again while attempt 2 holds results.
    const third: ProcessChunkResult = await run(1);

    expect(await first).toMatch(/token 1 superseded/);
    expect(await second).toMatch(/token 2 superseded/);
    expect(third.completed).toBe(LINES);
    const { owner, ids } = await committedOutput(deps);
    expect(owner).toBe(3);
    expect(ids.sort()).toEqual(Array.from({ length: LINES }, (_, i) => `c-${i}`).sort());
  });
});
