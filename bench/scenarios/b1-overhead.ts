import { runBatch, type BatchTimings } from '../batch-client';
import type { BenchContext, InputFile, Scenario } from '../context';
import { sendDirect } from '../direct-load';
import { workflowTimeline } from '../history';
import { chatBodies } from '../inputs';
import { scaled } from '../options';
import { CpuMeter } from '../proc-stats';
import type { Row, ScenarioResult } from '../report';
import { startSimulator, type SimulatorProcess } from '../simulator';
import { median, perSec, round, secs } from '../stats';
import { startSystem } from '../system';
import { BATCH_TIMEOUT_MS, cpuMeter, cpuSummary, runsLabel, warmUp, writeInput } from './common';

/** B1's batch: its requests and the upstream concurrency (bench/pair.ts runs the same batch). */
export const REQUESTS = 50_000;
export const CONCURRENCY = 64;
const BASELINE_REPS = 3;
/**
 * Batches per worker-process count, their median reported. On a machine whose speed drifts (a shared VM), one batch
 * measured 86 µs of worker CPU a request where the two full runs before it measured 73 and 66; and the bare client,
 * measured before all the batches, 27-44 µs from one full run to the next.
 */
const E2E_REPS = 3;
/** 50,000 lines in chunks of 50: the 1,000 chunks MAX_CHUNKS_PER_BATCH allows by default. */
const SMALL_CHUNK = 50;

/** One run of the bodies straight to the simulator, with the CPU the simulator and the bench (the client) used. */
async function directRun(sim: SimulatorProcess, bodies: string[]) {
  const meter = new CpuMeter({ simulator: sim.child.pid, bench: process.pid });
  const run = await sendDirect(sim.baseUrl, bodies, CONCURRENCY, 120_000);
  if (run.errors) throw new Error(`direct run had ${run.errors} errors`);
  return { ...run, cpu: meter.stop() };
}
type DirectRun = Awaited<ReturnType<typeof directRun>>;

/** Sends the bodies straight to the simulator `BASELINE_REPS` times after a short warm-up. */
async function baseline(sim: SimulatorProcess, bodies: string[]) {
  await sendDirect(sim.baseUrl, bodies.slice(0, 2000), CONCURRENCY, 60_000);
  const runs: DirectRun[] = [];
  for (let i = 0; i < BASELINE_REPS; i++) runs.push(await directRun(sim, bodies));
  return runs;
}

/** A run's timings and CPU, and the size of its batch's workflow history. */
type Run = BatchTimings & {
  cpu: Record<string, number>;
  historyEvents: number;
  chunkActivities: number;
  /** The bare client's run just before this batch, when asked for (the CPU rows compare each batch with it). */
  beside?: DirectRun;
};

type Direct = Awaited<ReturnType<typeof baseline>>;

/**
 * The batch through the API and `workerProcesses` worker processes `E2E_REPS` times, after a warm-up batch; with
 * `bodies`, each batch right after a run of the bare client on them.
 */
async function batchRuns(
  ctx: BenchContext,
  sim: SimulatorProcess,
  input: InputFile,
  workerProcesses: number,
  env: Record<string, string> = {},
  bodies?: string[],
): Promise<Run[]> {
  const temporal = await ctx.temporal();
  const system = await startSystem(temporal.address, sim.baseUrl, {
    UPSTREAM_CONCURRENCY: String(CONCURRENCY),
    WORKER_PROCESSES: String(workerProcesses),
    ...env,
  });
  const runs: Run[] = [];
  try {
    await warmUp(ctx, system);
    for (let i = 0; i < E2E_REPS; i++) {
      const beside = bodies && (await directRun(sim, bodies));
      const meter = cpuMeter(system, sim, temporal);
      const timings = await runBatch(system.apiUrl, input.path, input.lines, BATCH_TIMEOUT_MS);
      const cpu = meter.stop();
      const { events: historyEvents, chunkActivities } = await workflowTimeline(temporal.address, timings.batchId);
      runs.push({ ...timings, cpu, historyEvents, chunkActivities, beside });
    }
  } finally {
    await system.stop();
  }
  return runs;
}

function report(input: InputFile, direct: Direct, byProcesses: Map<number, Run[]>, most: Run): ScenarioResult {
  const n = input.lines;
  const base = median(direct.map((r) => r.ms));
  const lastDirect = direct[direct.length - 1];
  const [main] = byProcesses.keys();
  const rows: Row[] = [];
  const notes: string[] = [];
  const raw: Record<string, unknown> = { requests: n, inputBytes: input.bytes, direct, medianDirectMs: base };
  for (const [processes, runs] of byProcesses) {
    const e2e = median(runs.map((r) => r.downloadedMs));
    const ratio = e2e / base;
    const last = runs[runs.length - 1];
    const label = `${processes} worker process${processes === 1 ? '' : 'es'}`;
    rows.push({
      id: processes === main ? 'B1' : `B1-${processes}wp`,
      scenario: `overhead: ${n} req, 0 ms, conc ${CONCURRENCY}, ${label}, e2e (${runsLabel(E2E_REPS)})`,
      measured: `${secs(e2e)} (${perSec(n, e2e)})`,
      baseline: `${secs(base)} (${perSec(n, base)}) direct`,
      ratio,
      target: processes === main ? '<= 1.5' : 'info',
      pass: processes === main ? ratio <= 1.5 : null,
    });
    raw[`e2e_${processes}wp`] = { runs, medianE2eMs: e2e, ratio: round(ratio, 3) };
    notes.push(
      `B1 (${label}) e2e phases (last run): upload ${secs(last.uploadedMs)}, validating→in_progress seen ` +
        `${secs(last.inProgressMs - last.createdMs)}, processing ${secs(last.processingMs)}, ` +
        `download ${secs(last.downloadedMs - last.completedMs)}; CPU cores: ${cpuSummary(last.cpu, last.downloadedMs)}; ` +
        `workflow history ${last.historyEvents} events (${last.chunkActivities} chunk activities)`,
    );
  }
  // What a request costs the worker against what it costs the bench's bare client: unlike the wall-clock ratio, this
  // does not depend on how many cores the machine has for the simulator, Temporal and the rest. Each batch is compared
  // with the bare client's run just before it (the machine's speed drifts), and the ratio is the median of those.
  const oneProcess = byProcesses.get(1);
  if (oneProcess) {
    const usPerRequest = (cpuSeconds: number) => (cpuSeconds * 1e6) / n;
    const client = (r: Run) => usPerRequest(r.beside!.cpu.bench);
    const clientMedian = median(oneProcess.map(client));
    const cpuRow = (id: string, scenario: string, of: (r: Run) => number, limit: number): Row => {
      const ratio = median(oneProcess.map((r) => usPerRequest(of(r)) / client(r)));
      return {
        id,
        scenario,
        measured: `${median(oneProcess.map((r) => usPerRequest(of(r)))).toFixed(0)} µs/req`,
        baseline: `${clientMedian.toFixed(0)} µs/req bare client`,
        ratio,
        target: `<= ${limit.toFixed(1)}`,
        pass: ratio <= limit,
      };
    };
    rows.push(
      cpuRow(
        'B1-cpu',
        'overhead: worker CPU per request, 1 worker process, whole batch (validate, send, finalize)',
        (r) => r.cpu.worker,
        2,
      ),
    );
    // Every service process over the batch's life: the API (upload, create, polls, download), the worker and the
    // Temporal server, against the same bare client.
    rows.push(
      cpuRow(
        'B1-sys',
        'overhead: CPU of API + worker + Temporal server per request, 1 worker process, whole batch',
        (r) => r.cpu.api + r.cpu.worker + r.cpu.temporal,
        3,
      ),
    );
    notes.push(
      `B1-cpu per batch (1 worker process): worker ${oneProcess.map((r) => usPerRequest(r.cpu.worker).toFixed(0)).join(', ')} ` +
        `µs/req, the bare client's run before each ${oneProcess.map((r) => client(r).toFixed(0)).join(', ')} µs/req`,
    );
  }
  notes.push(`B1 CPU cores during the last direct run: ${cpuSummary(lastDirect.cpu, lastDirect.ms)}`);
  raw.mostChunks = most;
  notes.push(
    `B1 with CHUNK_SIZE=${SMALL_CHUNK} (${most.chunkActivities} chunks; at 50,000 lines, the most ` +
      `MAX_CHUNKS_PER_BATCH allows; 1 worker process): e2e ${secs(most.downloadedMs)}, ` +
      `workflow history ${most.historyEvents} events`,
  );
  return { rows, raw, notes };
}

async function run(ctx: BenchContext): Promise<ScenarioResult> {
  const input = await writeInput(ctx, 'b1.jsonl', scaled(REQUESTS, ctx.scale), 0);
  const sim = await startSimulator(0);
  try {
    const bodies = chatBodies(input.lines, 0);
    const direct = await baseline(sim, bodies);
    // The main row runs one worker process per core (the recommended deployment); one process is shown beside it.
    const byProcesses = new Map<number, Run[]>();
    for (const processes of new Set([ctx.workerProcesses, 1])) {
      byProcesses.set(processes, await batchRuns(ctx, sim, input, processes, {}, processes === 1 ? bodies : undefined));
    }
    // The longest history a 50,000-line batch can have: chunks of 50 make the 1,000 MAX_CHUNKS_PER_BATCH allows.
    const [most] = await batchRuns(ctx, sim, input, 1, { CHUNK_SIZE: String(SMALL_CHUNK) });
    return report(input, direct, byProcesses, most);
  } finally {
    await sim.stop();
  }
}

/** B1: end-to-end overhead over sending the same requests straight to the upstream. */
export const b1: Scenario = { id: 'B1', title: 'overhead', run };
