import { join } from 'node:path';
import { runBatch } from '../batch-client';
import type { BenchContext, InputFile } from '../context';
import { writeChatInput } from '../inputs';
import { CpuMeter } from '../proc-stats';
import type { SimulatorProcess } from '../simulator';
import type { BatchSystem } from '../system';
import type { BenchTemporal } from '../temporal';

/** Upper bound on one batch run, so a stuck batch fails the scenario instead of hanging the bench. */
export const BATCH_TIMEOUT_MS = 300_000;

/** Writes a chat input of `lines` lines of about `lineBytes` bytes (0: short lines) into the scratch dir. */
export async function writeInput(
  ctx: BenchContext,
  name: string,
  lines: number,
  lineBytes: number,
): Promise<InputFile> {
  const path = join(ctx.tmpDir, name);
  const bytes = await writeChatInput(path, lines, lineBytes);
  ctx.log(`wrote ${name}: ${lines} lines, ${(bytes / 1e6).toFixed(1)} MB`);
  return { path, lines, bytes };
}

/** Runs one small batch so the API and worker are past their first-request costs (JIT, pools, bundles). */
export async function warmUp(ctx: BenchContext, system: BatchSystem, lines = 1000): Promise<void> {
  const input = await writeInput(ctx, `warmup-${lines}.jsonl`, lines, 0);
  await runBatch(system.apiUrl, input.path, input.lines, BATCH_TIMEOUT_MS);
}

/** A CPU meter over every process taking part in an end-to-end run, the bench itself included. */
export function cpuMeter(system: BatchSystem, sim: SimulatorProcess, temporal: BenchTemporal): CpuMeter {
  return new CpuMeter(
    {
      api: system.api.pid,
      worker: system.worker.pid,
      simulator: sim.child.pid,
      temporal: temporal.server.pid,
      bench: process.pid,
    },
    // The worker entry may be a supervisor of several worker processes (WORKER_PROCESSES).
    new Set(['worker']),
  );
}

/**
 * Each process's CPU seconds as cores over the wall time, e.g. `worker 0.92`, plus `other`: what the rest of the
 * machine (processes the bench did not start) used meanwhile.
 */
export function cpuSummary(cpu: Record<string, number>, ms: number): string {
  const { machine, ...ours } = cpu;
  // Counters are sampled a moment apart, so a quiet machine can come out slightly negative.
  const other = Math.max(0, machine - Object.values(ours).reduce((a, b) => a + b, 0));
  return Object.entries({ ...ours, other })
    .map(([name, s]) => `${name} ${(s / (ms / 1000)).toFixed(2)}`)
    .join(', ');
}

/** `1 run`, or `median of 3 runs`. */
export const runsLabel = (n: number): string => (n === 1 ? '1 run' : `median of ${n} runs`);
