import type { BenchTemporal } from './temporal';
import type { ScenarioResult } from './report';

/** An input file the bench wrote. */
export interface InputFile {
  path: string;
  lines: number;
  bytes: number;
}

/** What every scenario gets from the runner. */
export interface BenchContext {
  scale: number;
  /** WORKER_PROCESSES for the throughput scenarios (B1, B2). */
  workerProcesses: number;
  /** Scratch directory for input files, removed at the end. */
  tmpDir: string;
  /** The shared Temporal dev server (started on first use). */
  temporal(): Promise<BenchTemporal>;
  /** The ~200 MB, 50,000-line input shared by B3 and B4 (written on first use). */
  bigInput(): Promise<InputFile>;
  log(message: string): void;
}

/** A benchmark scenario. */
export interface Scenario {
  id: string;
  title: string;
  run(ctx: BenchContext): Promise<ScenarioResult>;
}
