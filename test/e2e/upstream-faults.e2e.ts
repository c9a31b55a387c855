import { chatLine, readResults, uploadLines, waitForStatus } from '../support/batch-helpers';
import { expectConsistentEnd } from '../support/expectations';
import { simulatedStack } from '../support/simulated-stack';
import { UpstreamSimulator } from '../support/upstream-simulator';

const byCustomId = <T extends { custom_id: string }>(lines: T[]) => new Map(lines.map((l) => [l.custom_id, l]));

describe('upstream faults', () => {
  const t = simulatedStack(
    { latencyMs: 10 },
    {
      UPSTREAM_CONCURRENCY: '8',
      UPSTREAM_TIMEOUT_MS: '400',
      UPSTREAM_MAX_RETRIES: '3',
      UPSTREAM_RETRY_BASE_MS: '50',
      UPSTREAM_RETRY_MAX_MS: '2000',
      UPSTREAM_OUTAGE_TOLERANCE_MS: '60000',
      CHUNK_SIZE: '20',
      CHECKPOINT_INTERVAL_MS: '100',
    },
  );

  it('slow answers past the timeout, invalid JSON, and 429 storms with and without Retry-After', async () => {
    const client = t.stack.client();
    t.sim.reset();
    const x = (key: string, s: Record<string, unknown>) => chatLine(key, { x_sim: { key, ...s } });
    const storm = Array.from({ length: 40 }, (_, i) => x(`storm-${i}`, { faults: [{ status: 429 }, { status: 429 }] }));
    const polite = Array.from({ length: 10 }, (_, i) =>
      x(`polite-${i}`, { faults: [{ status: 429, retry_after: 1 }] }),
    );
    const lines = [
      x('slow-once', { faults: [{ delay_ms: 1500 }] }),
      x('always-slow', { always: { delay_ms: 1500 } }),
      x('invalid-json', { always: { invalid_json: true } }),
      x('invalid-json-once', { faults: [{ invalid_json: true }] }),
      ...storm,
      ...polite,
    ];
    const started = Date.now();
    const batch = await client.batches.create({
      input_file_id: await uploadLines(client, lines),
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    const done = await waitForStatus(client, batch.id, ['completed', 'failed'], 60000);
    expect(done.status).toBe('completed');
    const { output, errors } = await expectConsistentEnd(
      client,
      done,
      lines.map((l) => l.custom_id),
    );
    const out = byCustomId(output);
    const err = byCustomId(errors);

    // Past the timeout: retried; a request that is always slow ends as upstream_timeout after every retry.
    expect(out.get('slow-once')?.response?.status_code).toBe(200);
    expect(t.sim.calls('slow-once')).toBe(2);
    expect(err.get('always-slow')).toMatchObject({ response: null, error: { code: 'upstream_timeout' } });
    expect(t.sim.calls('always-slow')).toBe(4);
    // A 200 whose body is not valid JSON is never passed on as a result.
    expect(err.get('invalid-json')).toMatchObject({ response: null, error: { code: 'invalid_upstream_response' } });
    expect(out.get('invalid-json-once') ?? err.get('invalid-json-once')).toBeDefined();
    // 429 storms: every request gets through; Retry-After was waited for.
    for (const l of [...storm, ...polite]) expect(out.get(l.custom_id)?.response?.status_code).toBe(200);
    for (const l of storm) expect(t.sim.calls(l.custom_id)).toBe(3);
    for (const l of polite) expect(t.sim.calls(l.custom_id)).toBe(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
  });

  it('an upstream down for a while and back: requests wait for it instead of failing', async () => {
    const client = t.stack.client();
    const ids = Array.from({ length: 200 }, (_, i) => `down-${i}`);
    const batch = await client.batches.create({
      input_file_id: await uploadLines(
        client,
        ids.map((id) => chatLine(id, { x_sim: { key: id, latency_ms: 30 } })),
      ),
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    const deadline = Date.now() + 30000;
    while ((await client.batches.retrieve(batch.id)).request_counts!.completed < 40) {
      if (Date.now() > deadline) throw new Error('no progress');
      await new Promise((r) => setTimeout(r, 20));
    }
    const port = t.sim.port;
    await t.sim.close();
    // Down for longer than the retries of a request last (3 retries, at most 2 s apart).
    await new Promise((r) => setTimeout(r, 8000));
    expect((await client.batches.retrieve(batch.id)).status).toBe('in_progress');
    t.sim = await UpstreamSimulator.start({ port, latencyMs: 10 });

    const done = await waitForStatus(client, batch.id, ['completed', 'failed'], 60000);
    expect(done.status).toBe('completed');
    const { output } = await expectConsistentEnd(client, done, ids);
    expect(output).toHaveLength(200);
    expect(await readResults(client, done.error_file_id)).toEqual([]);
  });
});
