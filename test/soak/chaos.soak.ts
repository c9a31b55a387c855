import OpenAI from 'openai';
import type { Batch } from 'openai/resources/batches';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TemporalDevServer } from '../../src/temporal/dev-server';
import { ensureTemporalCli } from '../../src/temporal/temporal-cli';
import { spawnApi, type ApiProcess } from '../support/api-process';
import { chatLine, uploadLines } from '../support/batch-helpers';
import { expectConsistentEnd } from '../support/expectations';
import { freePort } from '../support/free-port';
import { startStack, type Stack } from '../support/stack';
import { UpstreamSimulator } from '../support/upstream-simulator';
import { spawnWorker, type WorkerProcess } from '../support/worker-process';

/**
 * `npm run soak`: batches run for SOAK_MINUTES (default 10) while the worker, the API, the Temporal server and the
 * upstream are killed, stopped and restarted at random, and some batches are cancelled. Every batch that ends is
 * checked: every line in exactly one file, each custom_id once, counts equal to the files, and each line's outcome
 * as its scripted faults require. Not part of `npm test`.
 */
const MINUTES = Number(process.env.SOAK_MINUTES ?? 10);
const rand = (lo: number, hi: number) => lo + Math.floor(Math.random() * (hi - lo + 1));
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A line with a random scripted fault; `final400` lines must end in the error file with status 400. */
function soakLine(id: string): { line: object; final400: boolean } {
  const p = Math.random();
  let sim: Record<string, unknown> = { key: id };
  if (p < 0.05) sim = { ...sim, faults: [{ status: 500 }, { status: 503 }] };
  else if (p < 0.1) sim = { ...sim, faults: [{ status: 429 }, { status: 429, retry_after: 1 }] };
  else if (p < 0.12) sim = { ...sim, faults: [{ reset_mid_body: true }] };
  else if (p < 0.14) sim = { ...sim, faults: [{ drop: true }] };
  else if (p < 0.15) sim = { ...sim, always: { status: 400 } };
  return { line: chatLine(id, { x_sim: sim }), final400: p >= 0.14 && p < 0.15 };
}

describe('chaos soak', () => {
  it(`keeps every batch whole for ${MINUTES} minutes of faults`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'soak-'));
    const temporalPort = await freePort();
    const startTemporal = async () =>
      TemporalDevServer.start({
        cliPath: ensureTemporalCli(),
        dbFile: join(dir, 'temporal.db'),
        port: temporalPort,
        uiPort: await freePort(),
        namespace: 'default',
        headless: true,
      });
    let temporal = await startTemporal();
    let sim: UpstreamSimulator | undefined = await UpstreamSimulator.start({ latencyMs: 20 });
    const simPort = sim.port;
    const stack: Stack = await startStack(
      {
        TEMPORAL_ADDRESS: temporal.address,
        UPSTREAM_BASE_URL: sim.baseUrl,
        UPSTREAM_CONCURRENCY: '32',
        UPSTREAM_RETRY_BASE_MS: '200',
        UPSTREAM_RETRY_MAX_MS: '5000',
        CHUNK_SIZE: '200',
        CHECKPOINT_INTERVAL_MS: '500',
        CHUNK_HEARTBEAT_TIMEOUT_MS: '5000',
      },
      { worker: false },
    );
    const apiPort = await freePort();
    let worker: WorkerProcess | undefined = await spawnWorker(stack.config);
    let api: ApiProcess | undefined = await spawnApi(stack.config, apiPort);
    const client = new OpenAI({ baseURL: `http://127.0.0.1:${apiPort}/v1`, apiKey: 'test-key', maxRetries: 8 });
    const reader = stack.client();

    // upstreamRestarted: the simulator restarted while the batch ran, which restarts every line's fault script, so a
    // line scripted to fail twice may fail more often than its retries allow and end as a 5xx error line.
    const active = new Map<string, { ids: string[]; final400: Set<string>; upstreamRestarted: boolean }>();
    const tally: Record<string, number> = {};
    const count = (k: string) => (tally[k] = (tally[k] ?? 0) + 1);
    const end = Date.now() + MINUTES * 60_000;
    let seq = 0;

    const chaos = async () => {
      const action = rand(0, 9);
      if (action <= 2 && worker) {
        await worker.kill(action === 0 ? 'SIGTERM' : 'SIGKILL');
        worker = await spawnWorker(stack.config);
        count(action === 0 ? 'worker SIGTERM' : 'worker SIGKILL');
      } else if (action <= 4 && api) {
        await api.kill('SIGKILL');
        api = await spawnApi(stack.config, apiPort);
        count('API SIGKILL');
      } else if (action === 5) {
        process.kill(temporal.pid!, 'SIGKILL');
        await temporal.stop();
        await pause(rand(1000, 5000));
        temporal = await startTemporal();
        count('Temporal SIGKILL');
      } else if (action === 6 && sim) {
        await sim.close();
        sim = undefined;
        await pause(rand(5000, 60000));
        sim = await UpstreamSimulator.start({ port: simPort, latencyMs: 20 });
        for (const b of active.values()) b.upstreamRestarted = true;
        count('upstream down');
      } else if (action === 7 && active.size > 0) {
        const id = [...active.keys()][rand(0, active.size - 1)];
        await client.batches.cancel(id).catch(() => undefined);
        count('cancel');
      }
    };

    try {
      while (Date.now() < end || active.size > 0) {
        while (Date.now() < end && active.size < 2) {
          const n = rand(500, 4000);
          const lines = Array.from({ length: n }, (_, i) => soakLine(`s${seq}-${i}`));
          seq++;
          const batch = await client.batches.create({
            input_file_id: await uploadLines(
              client,
              lines.map((l) => l.line),
            ),
            endpoint: '/v1/chat/completions',
            completion_window: '24h',
          });
          active.set(batch.id, {
            ids: lines.map((l) => (l.line as { custom_id: string }).custom_id),
            final400: new Set(lines.filter((l) => l.final400).map((l) => (l.line as { custom_id: string }).custom_id)),
            upstreamRestarted: false,
          });
        }
        if (Date.now() < end) await chaos();
        await pause(rand(2000, 8000));
        for (const [id, expected] of active) {
          const b: Batch = await reader.batches.retrieve(id);
          if (!['completed', 'cancelled', 'expired', 'failed'].includes(b.status)) continue;
          active.delete(id);
          count(`batch ${b.status}`);
          const { errors } = await expectConsistentEnd(reader, b, expected.ids);
          for (const e of errors) {
            if (e.error) continue; // batch_cancelled
            const status = e.response?.status_code ?? 0;
            const allowed = expected.final400.has(e.custom_id)
              ? status === 400
              : expected.upstreamRestarted && (status >= 500 || status === 429);
            if (!allowed) throw new Error(`unexpected error line in ${id}: ${JSON.stringify(e)}`);
          }
        }
      }
    } finally {
      console.log(`soak, ${MINUTES} min: ${JSON.stringify(tally, null, 1)}`);
      await api?.kill('SIGKILL');
      await worker?.kill('SIGKILL');
      await stack.close();
      await sim?.close();
      await temporal.stop();
      rmSync(dir, { recursive: true, force: true });
    }
    expect(tally['batch completed'] ?? 0).toBeGreaterThan(0);
  });
});
