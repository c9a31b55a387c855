import { runBatch, type BatchTimings } from '../batch-client';
import type { BenchContext, InputFile, Scenario } from '../context';
import { sendDirect, type LoadResult } from '../direct-load';
import { chatBodies } from '../inputs';
import { scaled } from '../options';
import { CpuMeter } from '../proc-stats';
import type { ScenarioResult } from '../report';
import { startSimulator, type SimulatorProcess } from '../simulator';
import { median, perSec, round, secs } from '../stats';
import { startSystem } from '../system';
import { BATCH_TIMEOUT_MS, cpuMeter, cpuSummary, runsLabel, warmUp, writeInput } from './common';

const REQUESTS = 50_000;
const CONCURRENCY = 64;
const BASELINE_REPS = 3;
const E2E_REPS = 1;

/** Sends the bodies straight to the simulator `BASELINE_REPS` times after a short warm-up. */
async function baseline(sim: SimulatorProcess, bodies: string[]) {
  await sendDirect(sim.baseUrl, bodies.slice(0, 2000), CONCURRENCY, 60_000);
  const runs: (LoadResult & { cpu: Record<string, number> })[] = [];
  for (let i = 0; i < BASELINE_REPS; i++) {
    const meter = new CpuMeter({ simulator: sim.child.pid, bench: process.pid });
    const run = await sendDirect(sim.baseUrl, bodies, CONCURRENCY, 120_000);
    if (run.errors) throw new Error(`direct run had ${run.errors} errors`);
    runs.push({ ...run, cpu: meter.stop() });
  }
  return runs;
}

type Run = BatchTimings & { cpu: Record<string, number> };
type Direct = Awaited<ReturnType<typeof baseline>>;

/** The batch through the API and worker `E2E_REPS` times, after a warm-up batch. */
async function batchRuns(ctx: BenchContext, sim: SimulatorProcess, input: InputFile): Promise<Run[]> {
  const temporal = await ctx.temporal();
  const system = await startSystem(temporal.address, sim.baseUrl, { UPSTREAM_CONCURRENCY: String(CONCURRENCY) });
  const runs: Run[] = [];
  try {
    await warmUp(ctx, system);
    for (let i = 0; i < E2E_REPS; i++) {
      const meter = cpuMeter(system, sim, temporal);
      const timings = await runBatch(system.apiUrl, input.path, input.lines, BATCH_TIMEOUT_MS);
      runs.push({ ...timings, cpu: meter.stop() });
    }
  } finally {
    await system.stop();
  }
  return runs;
}

function report(input: InputFile, direct: Direct, runs: Run[]): ScenarioResult {
  const n = input.lines;
  const e2e = median(runs.map((r) => r.downloadedMs));
  const base = median(direct.map((r) => r.ms));
  const ratio = e2e / base;
  const last = runs[runs.length - 1];
  const lastDirect = direct[direct.length - 1];
  return {
    rows: [
      {
        id: 'B1',
        scenario: `overhead: ${n} req, 0 ms, conc ${CONCURRENCY}, e2e (${runsLabel(E2E_REPS)})`,
        measured: `${secs(e2e)} (${perSec(n, e2e)})`,
        baseline: `${secs(base)} (${perSec(n, base)}) direct`,
        ratio,
        target: '<= 1.5',
        pass: ratio <= 1.5,
      },
    ],
    raw: {
      requests: n,
      inputBytes: input.bytes,
      direct,
      e2e: runs,
      medianE2eMs: e2e,
      medianDirectMs: base,
      ratio: round(ratio, 3),
    },
    notes: [
      `B1 e2e phases (last run): upload ${secs(last.uploadedMs)}, validating→in_progress seen ` +
        `${secs(last.inProgressMs - last.createdMs)}, processing ${secs(last.processingMs)}, ` +
        `download ${secs(last.downloadedMs - last.completedMs)}`,
      `B1 CPU cores used during e2e: ${cpuSummary(last.cpu, last.downloadedMs)}; during the last direct run: ` +
        cpuSummary(lastDirect.cpu, lastDirect.ms),
    ],
  };
}

async function run(ctx: BenchContext): Promise<ScenarioResult> {
  const input = await writeInput(ctx, 'b1.jsonl', scaled(REQUESTS, ctx.scale), 0);
  const sim = await startSimulator(0);
  try {
    const direct = await baseline(sim, chatBodies(input.lines, 0));
    return report(input, direct, await batchRuns(ctx, sim, input));
  } finally {
    await sim.stop();
  }
}

/** B1: end-to-end overhead over sending the same requests straight to the upstream. */
export const b1: Scenario = { id: 'B1', title: 'overhead', run };
