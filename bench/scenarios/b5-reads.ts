import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { freePort } from '../../test/support/free-port';
import { clientFor, createBatch, runBatch } from '../batch-client';
import { spawnNode, type Child } from '../child';
import type { BenchContext, Scenario } from '../context';
import { getLoad, type GetLoadResult } from '../get-load';
import { ENTRY } from '../paths';
import { CpuMeter } from '../proc-stats';
import type { ScenarioResult } from '../report';
import { startSimulator } from '../simulator';
import { median, round, sleep } from '../stats';
import { startSystem, type BatchSystem } from '../system';
import { BATCH_TIMEOUT_MS, writeInput } from './common';

const CONCURRENCY = 64;
const RUN_MS = 5000;
const WARMUP_MS = 1000;
const REPS = 3;

/** Runs a small batch and returns its id and the API's JSON for it. */
async function completedBatch(ctx: BenchContext, system: BatchSystem): Promise<{ id: string; json: string }> {
  const input = await writeInput(ctx, 'b5.jsonl', 100, 0);
  const { batchId } = await runBatch(system.apiUrl, input.path, input.lines, BATCH_TIMEOUT_MS);
  const res = await request(`${system.apiUrl}/batches/${batchId}`, { headers: { authorization: 'Bearer bench' } });
  return { id: batchId, json: await res.body.text() };
}

/**
 * Creates a batch that stays in_progress: the simulator is already gone, so its requests wait out the outage,
 * and the worker is stopped once it shows in_progress. Its reads take the live path (row plus chunk progress, read at
 * most once per LIVE_READ_MAX_AGE_MS).
 */
async function liveBatch(ctx: BenchContext, system: BatchSystem): Promise<string> {
  const input = await writeInput(ctx, 'b5-live.jsonl', 100, 0);
  const client = clientFor(system.apiUrl);
  const created = await createBatch(client, input.path);
  const deadline = Date.now() + 60_000;
  while ((await client.batches.retrieve(created.id)).status !== 'in_progress') {
    if (Date.now() > deadline) throw new Error(`batch ${created.id} never reached in_progress`);
    await sleep(100);
  }
  return created.id;
}

async function startBare(bodyFile: string): Promise<{ child: Child; origin: string }> {
  const port = await freePort();
  const child = spawnNode('bare-fastify', ENTRY.bareFastify, ['--port', String(port), '--body-file', bodyFile], {});
  await child.waitFor('listening', 10000);
  return { child, origin: `http://127.0.0.1:${port}` };
}

type Measured = GetLoadResult & { serverCpuCores: number; benchCpuCores: number; otherCpuCores: number };

/** One timed load run, with the server's and the load generator's CPU use. */
async function measure(origin: string, path: string, serverPid: number, ms: number): Promise<Measured> {
  const meter = new CpuMeter({ server: serverPid, bench: process.pid });
  const load = await getLoad(origin, path, CONCURRENCY, ms);
  const cpu = meter.stop();
  const cores = (seconds: number) => round(seconds / (load.ms / 1000));
  return {
    ...load,
    serverCpuCores: cores(cpu.server),
    benchCpuCores: cores(cpu.bench),
    otherCpuCores: cores(cpu.machine - cpu.server - cpu.bench),
  };
}

async function run(ctx: BenchContext): Promise<ScenarioResult> {
  const runMs = Math.max(1000, Math.round(RUN_MS * ctx.scale));
  const temporal = await ctx.temporal();
  const sim = await startSimulator(0);
  const system = await startSystem(temporal.address, sim.baseUrl);
  let bare: { child: Child; origin: string } | undefined;
  try {
    const batch = await completedBatch(ctx, system);
    await sim.stop();
    const live = await liveBatch(ctx, system);
    // Only the API (and the idle Temporal server) remain: the worker and simulator would only add noise.
    await system.worker.stop();
    const bodyFile = join(ctx.tmpDir, 'b5-batch.json');
    writeFileSync(bodyFile, batch.json);
    bare = await startBare(bodyFile);
    const path = `/v1/batches/${batch.id}`;
    const livePath = `/v1/batches/${live}`;
    const apiOrigin = new URL(system.apiUrl).origin;
    await getLoad(apiOrigin, path, CONCURRENCY, WARMUP_MS);
    await getLoad(apiOrigin, livePath, CONCURRENCY, WARMUP_MS);
    await getLoad(bare.origin, path, CONCURRENCY, WARMUP_MS);
    const api: Measured[] = [];
    const apiLive: Measured[] = [];
    const base: Measured[] = [];
    for (let i = 0; i < REPS; i++) {
      api.push(await measure(apiOrigin, path, system.api.pid, runMs));
      apiLive.push(await measure(apiOrigin, livePath, system.api.pid, runMs));
      base.push(await measure(bare.origin, path, bare.child.pid, runMs));
    }
    const bad = [...api, ...apiLive, ...base].filter((r) => r.other);
    if (bad.length) throw new Error(`non-200 answers under load: ${JSON.stringify(bad.map((r) => r.statuses))}`);
    const apiRps = median(api.map((r) => r.rps));
    const liveRps = median(apiLive.map((r) => r.rps));
    const bareRps = median(base.map((r) => r.rps));
    const perSecond = (rps: number) => `${Math.round(rps).toLocaleString('en-US')} req/s`;
    const load = `${CONCURRENCY} clients, median of ${REPS} x ${runMs / 1000} s`;
    return {
      rows: [
        {
          id: 'B5',
          scenario: `reads: GET /v1/batches/{id} of a completed batch, ${load}`,
          measured: perSecond(apiRps),
          baseline: `${perSecond(bareRps)} bare Fastify`,
          ratio: apiRps / bareRps,
          target: '>= 0.5',
          pass: apiRps / bareRps >= 0.5,
        },
        {
          id: 'B5-live',
          scenario: `reads: the same for an in_progress batch (store read shared for LIVE_READ_MAX_AGE_MS), ${load}`,
          measured: perSecond(liveRps),
          baseline: `${perSecond(bareRps)} bare Fastify`,
          ratio: liveRps / bareRps,
          target: '>= 0.5',
          pass: liveRps / bareRps >= 0.5,
        },
      ],
      raw: {
        responseBytes: Buffer.byteLength(batch.json),
        api,
        apiLive,
        bare: base,
        apiRps: round(apiRps, 1),
        liveRps: round(liveRps, 1),
        bareRps: round(bareRps, 1),
      },
      notes: [
        `B5 CPU cores (median run): api server ${median(api.map((r) => r.serverCpuCores))} ` +
          `(in_progress batch: ${median(apiLive.map((r) => r.serverCpuCores))}), load generator ` +
          `${median(api.map((r) => r.benchCpuCores))}; bare server ${median(base.map((r) => r.serverCpuCores))}, ` +
          `load generator ${median(base.map((r) => r.benchCpuCores))}; other processes ` +
          `${round(median([...api, ...base].map((r) => r.otherCpuCores)))}`,
      ],
    };
  } finally {
    await bare?.child.stop();
    await system.stop();
    await sim.stop();
  }
}

/** B5: read throughput of the API against bare Fastify. */
export const b5: Scenario = { id: 'B5', title: 'reads under load', run };
