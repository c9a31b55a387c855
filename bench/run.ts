import { mkdtempSync, rmSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchContext, InputFile, Scenario } from './context';
import { benchOptions, scaled, type BenchOptions } from './options';
import { defaultWorkflowSource } from '../src/worker/workflow-source';
import { CpuMeter } from './proc-stats';
import { formatTable, machineInfo, writeResults, type ScenarioReport } from './report';
import { b1 } from './scenarios/b1-overhead';
import { b2 } from './scenarios/b2-latency';
import { b3 } from './scenarios/b3-memory';
import { b4 } from './scenarios/b4-validation';
import { b5 } from './scenarios/b5-reads';
import { b7 } from './scenarios/b7-small-batches';
import { writeInput } from './scenarios/common';
import { startTemporal, type BenchTemporal } from './temporal';

const SCENARIOS: Scenario[] = [b1, b2, b3, b4, b5, b7];
const BIG_LINES = 50_000;
// 50,000 lines of 4,000 bytes: 200 MB, just under the API's default 200 MiB upload limit.
const BIG_LINE_BYTES = 4000;

/** How the worker gets its workflow code; bundling at start shows up in the worker's peak memory (B3). */
function workflowSource(): string {
  return defaultWorkflowSource().workflowBundle
    ? 'workers load the prebuilt dist/workflow-bundle.js'
    : 'workers bundle the workflows at start (dist/workflow-bundle.js missing or stale: run npm run build)';
}

const log = (message: string): void => console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}`);

/** Lazily started shared resources, and their cleanup. */
function makeContext(opts: BenchOptions, tmpDir: string): BenchContext & { close(): Promise<void> } {
  let temporal: Promise<BenchTemporal> | undefined;
  let big: Promise<InputFile> | undefined;
  const ctx: BenchContext & { close(): Promise<void> } = {
    scale: opts.scale,
    workerProcesses: opts.workerProcesses,
    tmpDir,
    log,
    temporal: () => (temporal ??= startTemporal()),
    bigInput: () => (big ??= writeInput(ctx, 'big.jsonl', scaled(BIG_LINES, opts.scale), BIG_LINE_BYTES)),
    async close() {
      if (temporal) await (await temporal.catch(() => undefined))?.stop();
      rmSync(tmpDir, { recursive: true, force: true });
    },
  };
  return ctx;
}

async function runScenario(scenario: Scenario, ctx: BenchContext): Promise<ScenarioReport> {
  log(`${scenario.id} ${scenario.title}: start`);
  const t0 = performance.now();
  const loadBefore = os.loadavg();
  const machine = new CpuMeter({});
  try {
    const result = await scenario.run(ctx);
    const durationMs = Math.round(performance.now() - t0);
    log(`${scenario.id}: done in ${(durationMs / 1000).toFixed(1)} s`);
    // Load averages show whether something besides the bench was busy on the machine at the time.
    result.raw.loadavg = { before: loadBefore, after: os.loadavg() };
    result.raw.machineBusyCores = Math.round((machine.stop().machine / (durationMs / 1000)) * 100) / 100;
    return { id: scenario.id, title: scenario.title, durationMs, ...result };
  } catch (err) {
    const error = err instanceof Error ? (err.stack ?? err.message) : String(err);
    log(`${scenario.id}: ERROR ${error}`);
    return { id: scenario.id, title: scenario.title, durationMs: Math.round(performance.now() - t0), error };
  }
}

/** `npm run bench`: runs the selected scenarios, prints the table and writes the JSON results. */
async function main(): Promise<number> {
  const opts = benchOptions();
  const started = new Date();
  const selected = SCENARIOS.filter((s) => !opts.only || opts.only.has(s.id));
  if (!selected.length)
    throw new Error(`BENCH_ONLY matched no scenario; known: ${SCENARIOS.map((s) => s.id).join(',')}`);
  log(
    `scenarios ${selected.map((s) => s.id).join(',')}, scale ${opts.scale}, ` +
      `WORKER_PROCESSES ${opts.workerProcesses} for B1/B2`,
  );
  const ctx = makeContext(opts, mkdtempSync(join(tmpdir(), 'bench-')));
  const reports: ScenarioReport[] = [];
  try {
    for (const scenario of selected) reports.push(await runScenario(scenario, ctx));
  } finally {
    await ctx.close();
  }
  const table = formatTable(reports);
  const notes = [`workflow code: ${workflowSource()}`, ...reports.flatMap((r) => r.notes ?? [])];
  console.log(`\n${table}\n\n${notes.map((n) => `- ${n}`).join('\n')}`);
  const report = {
    date: started.toISOString(),
    durationMs: Date.now() - started.getTime(),
    machine: machineInfo(),
    options: { scale: opts.scale, only: opts.only ? [...opts.only] : null, workerProcesses: opts.workerProcesses },
    workflowSource: workflowSource(),
    table,
    scenarios: reports,
  };
  const paths = writeResults(report, started);
  console.log(`\nresults: ${paths.join(', ')}`);
  return reports.some((r) => r.error) ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
