import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { BenchContext } from './context';
import { sendDirect } from './direct-load';
import { chatBodies } from './inputs';
import { CpuMeter } from './proc-stats';
import { runBatch } from './batch-client';
import { CONCURRENCY, REQUESTS } from './scenarios/b1-overhead';
import { BATCH_TIMEOUT_MS, cpuMeter, warmUp, writeInput } from './scenarios/common';
import { startSimulator } from './simulator';
import { median } from './stats';
import { startSystem, type SystemEntries } from './system';
import { startTemporal } from './temporal';

/**
 * Paired runs of B1's batch (50,000 requests, 0 ms upstream, concurrency 64, one worker process) on two builds, in
 * alternating order (A B, B A, ...) against one Temporal dev server and one simulator, each pair beside a run of the
 * bare client: what a change to the worker's path saves per request, on the same machine at the same time.
 *
 *   node dist/bench/pair.js <dist of build A> <dist of build B> [pairs, default 4; keep it even]
 *
 * A build's dist is what `npm run build` makes (dist/ of another checkout, or a copy of this one's);
 * `dist::--flag ...` starts that build's worker with those Node options.
 */

const log = (message: string): void => console.log(`[pair ${new Date().toISOString().slice(11, 19)}] ${message}`);

/** A build named as `dist`, or `dist::--flag --flag` for a worker started with those Node options. */
function entriesOf(build: string): SystemEntries {
  const [dir, flags = ''] = build.split('::');
  const dist = resolve(dir);
  const entries = { api: join(dist, 'src', 'start-api.js'), worker: join(dist, 'src', 'start-worker.js') };
  for (const path of Object.values(entries)) if (!existsSync(path)) throw new Error(`no build at ${path}`);
  return { ...entries, workerNodeFlags: flags.split(' ').filter(Boolean) };
}

async function main(): Promise<void> {
  const [a, b, pairsArg] = process.argv.slice(2);
  if (!a || !b) throw new Error('usage: node dist/bench/pair.js <dist A> <dist B> [pairs]');
  const builds = { A: entriesOf(a), B: entriesOf(b) };
  const pairs = Number(pairsArg ?? 4);
  const tmpDir = mkdtempSync(join(tmpdir(), 'bench-pair-'));
  const ctx = { tmpDir, log } as BenchContext;
  const temporal = await startTemporal();
  const sim = await startSimulator(0);
  const perRequest = (s: number) => (s * 1e6) / REQUESTS;
  const rows: Record<'A' | 'B' | 'bare', { worker: number; system: number }[]> = { A: [], B: [], bare: [] };
  try {
    const input = await writeInput(ctx, 'pair.jsonl', REQUESTS, 0);
    const bodies = chatBodies(REQUESTS, 0);
    await sendDirect(sim.baseUrl, bodies.slice(0, 2000), CONCURRENCY, 60_000);
    // Round 0 runs build A once, not counted: a first run is slower (the Temporal server, the simulator and the page
    // cache are cold), and it would always fall to A.
    for (let i = -1; i < pairs; i++) {
      for (const name of i < 0 ? (['A'] as const) : i % 2 === 0 ? (['A', 'B'] as const) : (['B', 'A'] as const)) {
        const system = await startSystem(
          temporal.address,
          sim.baseUrl,
          { UPSTREAM_CONCURRENCY: String(CONCURRENCY), WORKER_PROCESSES: '1' },
          builds[name],
        );
        try {
          await warmUp(ctx, system);
          const meter = cpuMeter(system, sim, temporal);
          await runBatch(system.apiUrl, input.path, input.lines, BATCH_TIMEOUT_MS);
          const cpu = meter.stop();
          const row = { worker: perRequest(cpu.worker), system: perRequest(cpu.api + cpu.worker + cpu.temporal) };
          if (i < 0) {
            log(`warm-up run (${name}, not counted): worker ${row.worker.toFixed(1)} µs/req`);
            continue;
          }
          rows[name].push(row);
          const workerMb = system.memory().worker.maxSampledRssKb / 1024;
          log(
            `pair ${i + 1} ${name}: worker ${row.worker.toFixed(1)} µs/req, system ${row.system.toFixed(1)} µs/req, ` +
              `worker peak RSS ${workerMb.toFixed(0)} MB`,
          );
        } finally {
          await system.stop();
        }
      }
      if (i < 0) continue;
      const meter = new CpuMeter({ bench: process.pid });
      const direct = await sendDirect(sim.baseUrl, bodies, CONCURRENCY, 120_000);
      if (direct.errors) throw new Error(`direct run had ${direct.errors} errors`);
      const bare = perRequest(meter.stop().bench);
      rows.bare.push({ worker: bare, system: bare });
      log(`pair ${i + 1} bare client: ${bare.toFixed(1)} µs/req`);
    }
  } finally {
    await sim.stop();
    await temporal.stop();
    rmSync(tmpDir, { recursive: true, force: true });
  }
  const med = (name: 'A' | 'B' | 'bare', key: 'worker' | 'system') => median(rows[name].map((r) => r[key]));
  const bare = med('bare', 'worker');
  for (const name of ['A', 'B'] as const) {
    const w = med(name, 'worker');
    const s = med(name, 'system');
    console.log(
      `${name}: worker ${w.toFixed(1)} µs/req (${(w / bare).toFixed(2)} of the bare client), ` +
        `system ${s.toFixed(1)} µs/req (${(s / bare).toFixed(2)}); runs ${rows[name].map((r) => r.worker.toFixed(0)).join(', ')}`,
    );
  }
  console.log(`bare client: ${bare.toFixed(1)} µs/req; runs ${rows.bare.map((r) => r.worker.toFixed(0)).join(', ')}`);
  // Each pair's own ratio, and their median: the order alternates, so with an even number of pairs a cost that falls
  // on whichever build runs first in a pair is shared evenly.
  const ratios = rows.A.map((a, i) => rows.B[i].worker / a.worker);
  console.log(
    `B / A, worker, per pair: ${ratios.map((r) => r.toFixed(3)).join(', ')}; median ${median(ratios).toFixed(3)}` +
      (pairs % 2 ? ' (an odd number of pairs: A ran first once more often than B)' : ''),
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
