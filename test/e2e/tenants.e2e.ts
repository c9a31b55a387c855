import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type OpenAI from 'openai';
import type { Batch } from 'openai/resources/batches';
import { uploadLines, waitForStatus } from '../support/batch-helpers';
import { simulatedStack } from '../support/simulated-stack';
import { waitUntil } from '../support/wait';

/** Writes a tenants file for one describe block and returns its path. */
function tenantsFile(name: string, lines: string[]): string {
  const path = join(tmpdir(), `tenants-${name}-${process.pid}-${Date.now()}.yaml`);
  writeFileSync(path, lines.join('\n'));
  return path;
}

/** A chat line whose prompt is `chars` characters (chars / 4 estimated tokens), with simulator directives. */
const line = (id: string, chars: number, sim: Record<string, unknown>) => ({
  custom_id: id,
  method: 'POST',
  url: '/v1/chat/completions',
  body: { model: 'gpt-test', messages: [{ role: 'user', content: 'x'.repeat(chars) }], x_sim: sim },
});

/** Creates a batch of `count` lines of `chars` prompt characters each. */
async function createBatch(client: OpenAI, prefix: string, count: number, chars = 8, sim = {}): Promise<Batch> {
  const lines = Array.from({ length: count }, (_, i) => line(`${prefix}-${i}`, chars, sim));
  return client.batches.create({
    input_file_id: await uploadLines(client, lines, `${prefix}.jsonl`),
    endpoint: '/v1/chat/completions',
    completion_window: '24h',
  });
}

const ENDED = ['completed', 'failed', 'expired', 'cancelled'];

describe('tenant limits at validation', () => {
  const t = simulatedStack(
    {},
    {
      API_KEYS: 'ka:team-a,kb:team-b,kc:team-c,kd:team-d',
      TENANTS_FILE: tenantsFile('limits', [
        'tenants:',
        '  team-a: { max_active_batches: 1 }',
        '  team-b: { max_enqueued_requests: 10 }',
        '  team-c: { max_enqueued_tokens: 1000 }',
        '  team-d: { max_active_batches: 1 }',
      ]),
    },
  );
  // Requests that take a minute: an admitted batch stays in_progress (enqueued) until the test cancels it.
  const slow = { latency_ms: 60_000 };
  const running: { client: OpenAI; id: string }[] = [];
  const admitted = async (client: OpenAI, prefix: string, count: number, chars?: number) => {
    const batch = await createBatch(client, prefix, count, chars, slow);
    running.push({ client, id: batch.id });
    return waitForStatus(client, batch.id, ['in_progress', ...ENDED]);
  };
  const refused = async (client: OpenAI, prefix: string, count: number, chars?: number) => {
    const batch = await createBatch(client, prefix, count, chars, slow);
    return waitForStatus(client, batch.id, ['in_progress', ...ENDED]);
  };
  const cancelAll = async () => {
    for (const { client, id } of running.splice(0)) await client.batches.cancel(id);
  };
  afterAll(async () => {
    const ids = [...running];
    await cancelAll();
    for (const { client, id } of ids) await waitForStatus(client, id, ENDED);
  });

  it('max_active_batches: a batch past it fails at validation with batch_limit_exceeded; one within it passes', async () => {
    const a = t.stack.client('ka');
    const first = await admitted(a, 'a1', 2);
    expect(first.status).toBe('in_progress');
    const over = await refused(a, 'a2', 2);
    expect(over.status).toBe('failed');
    expect(over.failed_at).toEqual(expect.any(Number));
    expect(over.in_progress_at).toBeNull();
    expect(over.errors!.data).toEqual([
      {
        code: 'batch_limit_exceeded',
        message: 'Active batch limit reached for team-a: 1 of 1 batches active.',
        param: null,
        line: null,
      },
    ]);
    // Once the first has ended, the owner is within its limit again.
    await cancelAll();
    await waitForStatus(a, first.id, ENDED);
    expect((await admitted(a, 'a3', 2)).status).toBe('in_progress');
    await cancelAll();
  });

  it('max_enqueued_requests: counts the requests of every enqueued batch, this one included', async () => {
    const b = t.stack.client('kb');
    expect((await admitted(b, 'b1', 6)).status).toBe('in_progress');
    const over = await refused(b, 'b2', 6);
    expect(over.status).toBe('failed');
    expect(over.errors!.data).toEqual([
      {
        code: 'request_limit_exceeded',
        message: 'Enqueued request limit reached for team-b: 6 of 10 requests enqueued; this batch has 6.',
        param: null,
        line: null,
      },
    ]);
    // Exactly up to the limit fits.
    expect((await admitted(b, 'b3', 4)).status).toBe('in_progress');
    await cancelAll();
  });

  it('max_enqueued_tokens: estimates prompt tokens as characters / 4 and refuses past the limit', async () => {
    const c = t.stack.client('kc');
    // 6 lines of 400 characters: 600 estimated tokens.
    expect((await admitted(c, 'c1', 6, 400)).status).toBe('in_progress');
    const over = await refused(c, 'c2', 6, 400);
    expect(over.status).toBe('failed');
    expect(over.errors!.data).toEqual([
      {
        code: 'token_limit_exceeded',
        message: 'Enqueued token limit reached for team-c: 600 of 1,000 tokens enqueued; this batch needs 600.',
        param: null,
        line: null,
      },
    ]);
    expect((await admitted(c, 'c3', 4, 400)).status).toBe('in_progress');
    // Another owner's queue is its own: team-a has no token limit.
    expect((await admitted(t.stack.client('ka'), 'a4', 6, 4000)).status).toBe('in_progress');
    await cancelAll();
  });

  it('two batches validating at the same moment do not both slip past a limit', async () => {
    const d = t.stack.client('kd');
    const created = await Promise.all([createBatch(d, 'd1', 3, 8, slow), createBatch(d, 'd2', 3, 8, slow)]);
    const settled = await Promise.all(created.map((b) => waitForStatus(d, b.id, ['in_progress', ...ENDED])));
    for (const b of settled) if (b.status === 'in_progress') running.push({ client: d, id: b.id });
    expect(settled.map((b) => b.status).sort()).toEqual(['failed', 'in_progress']);
    expect(settled.find((b) => b.status === 'failed')?.errors?.data).toMatchObject([{ code: 'batch_limit_exceeded' }]);
    await cancelAll();
  });
});

describe('fair share of an upstream between owners', () => {
  const CONCURRENCY = 8;
  const t = simulatedStack(
    { latencyMs: 250 },
    {
      API_KEYS: 'ka:team-a,kb:team-b',
      TENANTS_FILE: tenantsFile('weights', ['tenants:', '  team-a: { weight: 1 }', '  team-b: { weight: 3 }']),
      UPSTREAM_CONCURRENCY: String(CONCURRENCY),
    },
  );

  /** The owners' gauges on /metrics. */
  const ownerGauges = async () => {
    const text = await (await fetch(t.stack.baseURL.replace(/\/v1$/, '/metrics'))).text();
    const value = (name: string, owner: string) =>
      Number(new RegExp(`^${name}\\{upstream="default",owner="${owner}"\\} (\\S+)$`, 'm').exec(text)?.[1]);
    return {
      aInFlight: value('batch_upstream_owner_in_flight', 'team-a'),
      aQueued: value('batch_upstream_owner_queued', 'team-a'),
      bInFlight: value('batch_upstream_owner_in_flight', 'team-b'),
    };
  };

  it('an owner starting one small batch behind ten large ones of another gets its weighted share at once', async () => {
    const { sim } = t;
    const a = t.stack.client('ka');
    const b = t.stack.client('kb');
    const aBatches = await Promise.all(
      Array.from({ length: 10 }, (_, i) => createBatch(a, `a${i}`, 1000, 8, { group: 'a' })),
    );
    try {
      for (const batch of aBatches) await waitForStatus(a, batch.id, ['in_progress']);
      // Team A fills the upstream and has thousands of requests waiting before team B arrives.
      await waitUntil(() => sim.inFlightOf('a') === CONCURRENCY);
      const bCreatedAt = Date.now();
      const bBatch = await createBatch(b, 'b', 100, 8, { group: 'b' });

      // The simulator's view: B's part of the requests in flight, sampled while B has requests upstream.
      const shares: number[] = [];
      let firstB: number | undefined;
      let atShare: number | undefined;
      let gauges: Awaited<ReturnType<typeof ownerGauges>> | undefined;
      let done: Batch | undefined;
      while (!done) {
        const inB = sim.inFlightOf('b');
        const all = inB + sim.inFlightOf('a');
        if (inB > 0) {
          firstB ??= Date.now();
          shares.push(inB / all);
          // Half of the upstream or more: B's weighted share is three quarters of it.
          if (inB >= CONCURRENCY / 2) atShare ??= Date.now();
          if (!gauges && shares.length === 10) gauges = await ownerGauges();
        }
        await new Promise((r) => setTimeout(r, 25));
        const now = await b.batches.retrieve(bBatch.id);
        if (ENDED.includes(now.status)) done = now;
      }
      const bDoneAt = Date.now();
      const aNow = await Promise.all(aBatches.map((x) => a.batches.retrieve(x.id)));
      const aCompleted = aNow.reduce((n, x) => n + x.request_counts!.completed, 0);
      shares.sort((x, y) => x - y);
      const median = shares[Math.floor(shares.length / 2)];
      console.log(
        `fair share: B's median share of the upstream ${median.toFixed(2)} over ${shares.length} samples ` +
          `(weighted share 0.75); first B request ${firstB! - bCreatedAt} ms after create, half the upstream after ` +
          `${atShare === undefined ? 'never' : `${atShare - firstB!} ms`}; B completed in ${bDoneAt - bCreatedAt} ms; ` +
          `A then had ${aCompleted} of 10000 requests done`,
      );

      expect(done.status).toBe('completed');
      expect(done.request_counts).toEqual({ total: 100, completed: 100, failed: 0 });
      // Round-robin over batches alone would give B one slot in eleven (0.09); by owner and weight it has 0.75.
      expect(median).toBeGreaterThanOrEqual(0.5);
      expect(atShare).toBeDefined();
      // B is done long before A: every A batch is still running, with most of its requests still to go.
      expect(aNow.map((x) => x.status)).toEqual(Array(10).fill('in_progress'));
      expect(aCompleted).toBeLessThan(5000);
      // /metrics shows both owners: B in flight, A in flight and with requests waiting.
      expect(gauges!.bInFlight).toBeGreaterThan(0);
      expect(gauges!.aInFlight).toBeGreaterThan(0);
      expect(gauges!.aQueued).toBeGreaterThan(0);
    } finally {
      for (const x of aBatches) await a.batches.cancel(x.id);
      for (const x of aBatches) await waitForStatus(a, x.id, ENDED);
    }
  });
});

describe('tenant limits when validation runs again after its outcome committed', () => {
  const t = simulatedStack(
    {},
    {
      API_KEYS: 'ka:team-a',
      TENANTS_FILE: tenantsFile('again', ['tenants:', '  team-a: { max_active_batches: 1 }']),
      FAULT_INJECT_AFTER_COMMIT: 'validateInput',
    },
  );

  it('an admitted batch stays admitted, and a refused one stays failed with the errors it was refused with', async () => {
    const a = t.stack.client('ka');
    const connection = await Connection.connect({ address: t.stack.config.TEMPORAL_ADDRESS! });
    const first = await createBatch(a, 'first', 2, 8, { latency_ms: 60_000 });
    try {
      // Its requests reach the upstream only once validation has run again and returned.
      await waitUntil(() => t.sim.inFlight === 2);
      expect((await a.batches.retrieve(first.id)).status).toBe('in_progress');
      const second = await createBatch(a, 'second', 2);
      // The workflow ends only after its validation ran again; the outcome is still the refusal.
      expect(await new Client({ connection }).workflow.getHandle(second.id).result()).toEqual({ status: 'failed' });
      const refused = await a.batches.retrieve(second.id);
      expect(refused.status).toBe('failed');
      expect(refused.errors!.data).toEqual([
        {
          code: 'batch_limit_exceeded',
          message: 'Active batch limit reached for team-a: 1 of 1 batches active.',
          param: null,
          line: null,
        },
      ]);
      expect((await a.batches.retrieve(first.id)).status).toBe('in_progress');
    } finally {
      await connection.close();
      await a.batches.cancel(first.id);
      await waitForStatus(a, first.id, ENDED);
    }
  });
});
