import { MockActivityEnvironment } from '@temporalio/testing';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { loadConfig } from '../src/config/config';
import { openStorage, type Storage } from '../src/storage/storage';
import { activityDeps } from '../src/worker/batch-worker';
import { UpstreamSimulator } from '../test/support/upstream-simulator';
import { loadChunkState, partsOf } from './chunk-state';
import { batchKeys, type ActivityDeps, type ChunkIndex } from './deps';
import { makeProcessChunk } from './process-chunk';
import type { ProcessChunkResult } from './types';

const BATCH = 'batch_superseded';
const LINES = 60;

/** The chunk's output as finalize reads it: the current owner's state, then each part's valid prefix. */
async function committedOutput(deps: ActivityDeps): Promise<string[]> {
  const owner = (await deps.batches.chunkOwners(BATCH)).get(0) ?? 0;
  const state = await loadChunkState(deps.blobs, BATCH, 0, owner);
  let text = '';
  for (const part of partsOf(state)) {
    if (part.outBytes === 0) continue;
    for await (const b of deps.blobs.read(batchKeys(BATCH).out(0, part.attempt), { start: 0, end: part.outBytes })) {
      text += (b as Buffer).toString();
    }
  }
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { custom_id: string }).custom_id);
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

  it('the newer attempt takes over; the older one is refused and nothing it wrote afterwards is read', async () => {
    const processChunk = makeProcessChunk(deps);
    const first = new MockActivityEnvironment({ attempt: 1 }).run(processChunk, { batchId: BATCH, chunk: 0 });
    const firstOutcome = first.then(
      () => 'completed',
      (err: Error) => err.message,
    );
    // Let the first attempt commit some results, then start the second while the first keeps sending.
    const deadline = Date.now() + 20000;
    while ((await storage.batches.chunkProgress(BATCH)).completed < 10) {
      if (Date.now() > deadline) throw new Error('the first attempt made no progress');
      await new Promise((r) => setTimeout(r, 10));
    }
    const second: ProcessChunkResult = await new MockActivityEnvironment({ attempt: 2 }).run(processChunk, {
      batchId: BATCH,
      chunk: 0,
    });

    expect(await firstOutcome).toMatch(/attempt 1 superseded/);
    expect(second.completed).toBe(LINES);
    const output = await committedOutput(deps);
    expect(output.sort()).toEqual(Array.from({ length: LINES }, (_, i) => `c-${i}`).sort());
    expect((await storage.batches.chunkOwners(BATCH)).get(0)).toBe(2);
  });
});
