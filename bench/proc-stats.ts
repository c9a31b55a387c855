import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { descendants, statFields } from '../test/support/proc';

let clockTicks: number | undefined;

/** Kernel clock ticks per second, for /proc/<pid>/stat times. */
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      // No getconf: Linux's USER_HZ is 100 almost everywhere.
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/**
 * User plus system CPU seconds a process (with `tree`, plus its living descendants: a worker supervisor's
 * processes) has used so far, or undefined once the process is gone.
 */
export function cpuSeconds(pid: number | undefined, tree = false): number | undefined {
  if (pid === undefined) return undefined;
  const own = statFields(pid);
  if (!own) return undefined;
  let ticks = 0;
  for (const fields of [own, ...(tree ? descendants(pid).map(statFields) : [])]) {
    // utime and stime are the 14th and 15th fields overall.
    if (fields) ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks / ticksPerSecond();
}

/** CPU seconds the whole machine has spent busy (all cores, every process), from /proc/stat. */
export function machineBusySeconds(): number {
  try {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal: everything but idle and iowait is busy.
    const busy = cpu[0] + cpu[1] + cpu[2] + cpu[5] + cpu[6] + (cpu[7] || 0);
    return busy / ticksPerSecond();
  } catch {
    return NaN;
  }
}

/** Current and peak resident set size of a process in kB (VmRSS, VmHWM), or undefined once it is gone. */
export function memoryKb(pid: number | undefined): { rss: number; hwm: number } | undefined {
  if (pid === undefined) return undefined;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
    return { rss: field('VmRSS'), hwm: field('VmHWM') };
  } catch {
    return undefined;
  }
}

/** Samples a process's VmRSS every 200 ms until stopped; the kernel's VmHWM is read at the end. */
export class RssSampler {
  private maxRss = 0;
  private samples = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly pid: number) {
    this.timer = setInterval(() => this.sample(), 200);
    this.sample();
  }

  private sample(): void {
    const mem = memoryKb(this.pid);
    if (!mem) return;
    this.samples++;
    this.maxRss = Math.max(this.maxRss, mem.rss);
  }

  /** Stops sampling (call before the process exits) and returns the peaks in kB. */
  stop(): { hwmKb: number; maxSampledRssKb: number; samples: number } {
    this.sample();
    clearInterval(this.timer);
    return { hwmKb: memoryKb(this.pid)?.hwm ?? NaN, maxSampledRssKb: this.maxRss, samples: this.samples };
  }
}

/**
 * CPU seconds used by named processes (those named in `trees` with their descendants), and by the whole machine
 * (`machine`), between construction and `stop()`.
 */
export class CpuMeter {
  private readonly start: Map<string, number | undefined>;
  private readonly machineStart = machineBusySeconds();

  constructor(
    private readonly pids: Record<string, number | undefined>,
    private readonly trees: ReadonlySet<string> = new Set(),
  ) {
    this.start = new Map(Object.entries(pids).map(([name, pid]) => [name, cpuSeconds(pid, trees.has(name))]));
  }

  /** CPU seconds per process since construction (NaN if one could not be read), plus `machine`. */
  stop(): Record<string, number> {
    const used: Record<string, number> = {
      machine: Math.round((machineBusySeconds() - this.machineStart) * 100) / 100,
    };
    for (const [name, pid] of Object.entries(this.pids)) {
      const before = this.start.get(name);
      const after = cpuSeconds(pid, this.trees.has(name));
      used[name] = before === undefined || after === undefined ? NaN : Math.round((after - before) * 100) / 100;
    }
    return used;
  }
}
