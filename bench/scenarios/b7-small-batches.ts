import type { Batch } from 'openai/resources/batches';
import { clientFor, createBatch } from '../batch-client';
import type { BenchContext, Scenario } from '../context';
import { workflowTimeline } from '../history';
import { CpuMeter } from '../proc-stats';
import type { ScenarioResult } from '../report';
import { startSimulator } from '../simulator';
import { median, round, secs, sleep } from '../stats';
import { startSystem } from '../system';
import { BATCH_TIMEOUT_MS, warmUp, writeInput } from './common';

const BATCHES = 200;
const LINES = 20;
const CLIENTS = 20;
const LATENCY_MS = 50;
const POLL_MS = 250;

/** One client: creates its batches one after another, then polls them until every one has ended. */
async function client(apiUrl: string, inputPath: string, count: number) {
  const api = clientFor(apiUrl);
  const created: Batch[] = [];
  const createMs: number[] = [];
  const createdAt = new Map<string, number>();
  let refused = 0;
  for (let i = 0; i < count; i++) {
    const t = Date.now();
    try {
      const batch = await createBatch(api, inputPath);
      created.push(batch);
      const now = Date.now();
      createdAt.set(batch.id, now);
      createMs.push(now - t);
    } catch (err) {
      refused++;
      if ((err as { status?: number }).status !== 429) throw err;
    }
  }
  const deadline = Date.now() + BATCH_TIMEOUT_MS;
  const open = new Set(created.map((b) => b.id));
  const endedAt: number[] = [];
  const lifeMs: number[] = [];
  while (open.size > 0) {
    if (Date.now() > deadline) throw new Error(`${open.size} batches still open`);
    await sleep(POLL_MS);
    for (const id of [...open]) {
      const batch = await api.batches.retrieve(id);
      if (batch.status === 'completed') {
        open.delete(id);
        endedAt.push(Date.now());
        lifeMs.push(Date.now() - createdAt.get(id)!);
      } else if (['failed', 'expired', 'cancelled'].includes(batch.status)) {
        throw new Error(`batch ${id} ended ${batch.status}`);
      }
    }
  }
  return {
    ids: created.map((b) => b.id),
    refused,
    endedAt,
    createMs,
    lifeMs,
    lastCreatedAt: Math.max(...createdAt.values()),
  };
}

async function run(ctx: BenchContext): Promise<ScenarioResult> {
  const batches = Math.max(CLIENTS, Math.round(BATCHES * ctx.scale));
  const perClient = Math.ceil(batches / CLIENTS);
  const input = await writeInput(ctx, 'b7.jsonl', LINES, 0);
  const server = await ctx.temporal();
  const sim = await startSimulator(LATENCY_MS);
  const system = await startSystem(server.address, sim.baseUrl, {});
  try {
    await warmUp(ctx, system, LINES);
    const meter = new CpuMeter({ api: system.api.pid, worker: system.worker.pid, temporal: server.server.pid });
    const started = Date.now();
    const results = await Promise.all(
      Array.from({ length: CLIENTS }, () => client(system.apiUrl, input.path, perClient)),
    );
    const ms = Math.max(...results.flatMap((r) => r.endedAt)) - started;
    const createdSpanMs = Math.max(...results.map((r) => r.lastCreatedAt)) - started;
    const createMs = median(results.flatMap((r) => r.createMs));
    const lifeMs = median(results.flatMap((r) => r.lifeMs));
    const cpu = meter.stop();
    const done = results.reduce((n, r) => n + r.ids.length, 0);
    const refused = results.reduce((n, r) => n + r.refused, 0);
    const rate = (done * 1000) / ms;
    const perBatchMs = (s: number) => round((s * 1000) / done, 1);
    const history = await workflowTimeline(server.address, results[0].ids[0]);
    return {
      rows: [
        {
          id: 'B7',
          scenario: `many small batches: ${done} of ${LINES} lines (${LATENCY_MS} ms upstream), ${CLIENTS} clients at once, polled`,
          measured: `${round(rate, 1)} batches/s (${secs(ms)})`,
          baseline: `${refused} uploads refused`,
          ratio: rate,
          target: '>= 10 batches/s, none refused',
          pass: rate >= 10 && refused === 0,
        },
        {
          id: 'B7-cpu',
          scenario: 'many small batches: CPU per batch (Temporal dev server / API + worker)',
          measured: `${perBatchMs(cpu.temporal)} ms / ${perBatchMs(cpu.api + cpu.worker)} ms`,
          baseline: `${history.events} history events a batch`,
          ratio: NaN,
          target: 'info',
          pass: null,
        },
      ],
      raw: {
        batches: done,
        lines: LINES,
        clients: CLIENTS,
        ms,
        createdSpanMs,
        medianCreateMs: createMs,
        medianCreatedToEndSeenMs: lifeMs,
        refused,
        cpu,
        historyEvents: history.events,
        workflowTasks: history.workflowTasks,
        activities: history.activities,
        searchAttributeUpserts: history.searchAttributeUpserts,
      },
      notes: [
        `B7 one batch's history: ${history.events} events, ${history.workflowTasks} workflow tasks, ` +
          `${history.activities} activities, ${history.searchAttributeUpserts} search attribute upserts`,
        `B7 phases: every batch created after ${secs(createdSpanMs)} (upload + create: median ${round(createMs, 0)} ms ` +
          `a batch per client); created → completed seen by a poll: median ${round(lifeMs, 0)} ms (polls every ${POLL_MS} ms)`,
      ],
    };
  } finally {
    await system.stop();
    await sim.stop();
  }
}

/** B7: many small batches at once, the shape of a team submitting evaluation jobs. */
export const b7: Scenario = { id: 'B7', title: 'many small batches', run };
