import { runBatch, type BatchTimings } from '../batch-client';
import type { BenchContext, InputFile, Scenario } from '../context';
import { scaled } from '../options';
import type { Row, ScenarioResult } from '../report';
import { startSimulator, type SimulatorProcess } from '../simulator';
import { mb, round, secs } from '../stats';
import { startSystem, type BatchSystem } from '../system';
import { BATCH_TIMEOUT_MS, writeInput } from './common';

const LINES = 50_000;
const SMALL_LINE_BYTES = 400;
const LIMIT_KB = 300 * 1024;
const MAX_GROWTH = 1.5;

type Memory = ReturnType<BatchSystem['memory']>;
interface SizeRun {
  inputBytes: number;
  timings: BatchTimings;
  memory: Memory;
  startupHwmKb: BatchSystem['startupHwmKb'];
}

/** One batch through fresh API and worker processes, sampling their memory throughout. */
async function measure(ctx: BenchContext, sim: SimulatorProcess, input: InputFile): Promise<SizeRun> {
  const temporal = await ctx.temporal();
  const system = await startSystem(temporal.address, sim.baseUrl);
  try {
    const timings = await runBatch(system.apiUrl, input.path, input.lines, BATCH_TIMEOUT_MS);
    return { inputBytes: input.bytes, timings, memory: system.memory(), startupHwmKb: system.startupHwmKb };
  } finally {
    await system.stop();
  }
}

function row(name: 'api' | 'worker', big: SizeRun, small: SizeRun): Row {
  const peak = big.memory[name].hwmKb;
  const base = small.memory[name].hwmKb;
  const ratio = peak / base;
  return {
    id: `B3-${name}`,
    scenario: `memory: ${name} VmHWM, ${(big.inputBytes / 1e6).toFixed(0)} MB vs ${(small.inputBytes / 1e6).toFixed(0)} MB input (1 run each)`,
    measured: mb(peak),
    baseline: mb(base),
    ratio,
    target: '< 300 MB each, ratio < 1.5',
    pass: peak < LIMIT_KB && base < LIMIT_KB && ratio < MAX_GROWTH,
  };
}

async function run(ctx: BenchContext): Promise<ScenarioResult> {
  const small = await writeInput(ctx, 'b3-small.jsonl', scaled(LINES, ctx.scale), SMALL_LINE_BYTES);
  const big = await ctx.bigInput();
  const sim = await startSimulator(0);
  try {
    const smallRun = await measure(ctx, sim, small);
    const bigRun = await measure(ctx, sim, big);
    const describe = (label: string, r: SizeRun) =>
      `B3 ${label}: e2e ${secs(r.timings.downloadedMs)} (upload ${secs(r.timings.uploadedMs)}); ` +
      `VmHWM at ready api ${mb(r.startupHwmKb.api)}, worker ${mb(r.startupHwmKb.worker)}; ` +
      `max sampled VmRSS api ${mb(r.memory.api.maxSampledRssKb)}, worker ${mb(r.memory.worker.maxSampledRssKb)}`;
    return {
      rows: [row('worker', bigRun, smallRun), row('api', bigRun, smallRun)],
      raw: {
        small: smallRun,
        big: bigRun,
        ratio: {
          worker: round(bigRun.memory.worker.hwmKb / smallRun.memory.worker.hwmKb, 3),
          api: round(bigRun.memory.api.hwmKb / smallRun.memory.api.hwmKb, 3),
        },
      },
      notes: [
        describe(`${(small.bytes / 1e6).toFixed(0)} MB`, smallRun),
        describe(`${(big.bytes / 1e6).toFixed(0)} MB`, bigRun),
      ],
    };
  } finally {
    await sim.stop();
  }
}

/** B3: peak memory of the API and worker does not grow with the input's size. */
export const b3: Scenario = { id: 'B3', title: 'memory', run };
