import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chatLine, readResults, uploadLines, waitForStatus } from '../support/batch-helpers';
import { expectConsistentEnd } from '../support/expectations';
import { startStack, type Stack } from '../support/stack';
import { UpstreamSimulator } from '../support/upstream-simulator';

describe('upstream routing, limits and fairness', () => {
  let simA: UpstreamSimulator;
  let simB: UpstreamSimulator;
  let stack: Stack;
  let file: string;
  let routes: string;

  beforeAll(async () => {
    simA = await UpstreamSimulator.start({ latencyMs: 60 });
    simB = await UpstreamSimulator.start();
    file = join(tmpdir(), `upstreams-${Date.now()}.yaml`);
    routes = [
      'upstreams:',
      `  - name: alpha`,
      `    base_url: ${simA.baseUrl}`,
      `    api_key_env: ROUTING_TEST_ALPHA_KEY`,
      `    max_concurrency: 3`,
      `  - name: beta`,
      `    base_url: ${simB.baseUrl}`,
      `    max_concurrency: 4`,
      'routes:',
      '  - model: gpt-alpha',
      '    upstream: alpha',
      '  - model: "llama-*"',
      '    upstream: beta',
    ].join('\n');
    writeFileSync(file, routes);
    process.env.ROUTING_TEST_ALPHA_KEY = 'alpha-secret';
    stack = await startStack({ UPSTREAMS_FILE: file, CHUNK_SIZE: '20', CHECKPOINT_INTERVAL_MS: '100' });
  });
  afterAll(async () => {
    await stack.close();
    await simA.close();
    await simB.close();
  });

  const run = async (model: string, n: number, prefix: string) => {
    const client = stack.client();
    const created = await client.batches.create({
      input_file_id: await uploadLines(
        client,
        Array.from({ length: n }, (_, i) => chatLine(`${prefix}-${i}`, {}, model)),
      ),
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    return created.id;
  };

  it('routes by exact model and by pattern, each with its own key and concurrency cap', async () => {
    simA.reset();
    simB.reset();
    const client = stack.client();
    const [a, b] = await Promise.all([run('gpt-alpha', 40, 'a'), run('llama-3-8b', 30, 'b')]);
    const doneA = await waitForStatus(client, a, ['completed', 'failed']);
    const doneB = await waitForStatus(client, b, ['completed', 'failed']);
    expect([doneA.status, doneB.status]).toEqual(['completed', 'completed']);
    expect(simA.totalCalls).toBe(40);
    expect(simB.totalCalls).toBe(30);
    expect(simA.authHeaders()).toEqual(['Bearer alpha-secret']);
    // The cap holds, and with 40 requests at 60 ms it is reached.
    expect(simA.peakInFlight).toBe(3);
    expect(simB.peakInFlight).toBeLessThanOrEqual(4);
    const body = (await readResults(client, doneB.output_file_id))[0].response!.body as { model: string };
    expect(body.model).toBe('llama-3-8b');
  });

  it('fails a batch whose model no route matches, at validation', async () => {
    const client = stack.client();
    const failed = await waitForStatus(client, await run('unrouted-model', 2, 'u'), ['failed', 'completed']);
    expect(failed.status).toBe('failed');
    expect(failed.errors!.data).toEqual([
      { code: 'model_not_found', param: 'body.model', line: null, message: expect.stringContaining('unrouted-model') },
    ]);
  });

  it('does not let a big batch started first starve a small one started later', async () => {
    simA.reset();
    const client = stack.client();
    const big = await run('gpt-alpha', 150, 'big');
    await waitForStatus(client, big, ['in_progress']);
    const small = await run('gpt-alpha', 6, 'small');
    const smallDone = await waitForStatus(client, small, ['completed'], 60000);
    const bigNow = await client.batches.retrieve(big);
    // 150 requests at 60 ms through 3 slots take about 3 s; the small batch finishes long before that.
    expect(bigNow.status).toBe('in_progress');
    expect(bigNow.request_counts!.completed).toBeLessThan(150);
    expect(smallDone.request_counts).toEqual({ total: 6, completed: 6, failed: 0 });
    await waitForStatus(client, big, ['completed'], 60000);
  });
  it('a chunk that cannot run (its route gone since validation) fails its lines, counted, and never strands the rest', async () => {
    const client = stack.client();
    const id = await run('gpt-alpha', 300, 'gone');
    await waitForStatus(client, id, ['in_progress']);
    // An operator removes the route and restarts the worker while the batch runs.
    await stack.stopWorker();
    writeFileSync(file, routes.replace('  - model: gpt-alpha\n    upstream: alpha\n', ''));
    try {
      await stack.startWorker();
      const done = await waitForStatus(client, id, ['completed', 'failed', 'expired', 'cancelled'], 60000);
      expect(done.status).toBe('completed');
      const ids = Array.from({ length: 300 }, (_, i) => `gone-${i}`);
      const { errors } = await expectConsistentEnd(client, done, ids);
      expect(errors.length).toBeGreaterThan(0);
      for (const e of errors) {
        expect(e).toMatchObject({ response: null, error: { code: 'model_not_found' } });
        expect(e.error!.message).toContain('gpt-alpha');
      }
      expect(done.request_counts!.failed).toBe(errors.length);
    } finally {
      await stack.stopWorker();
      writeFileSync(file, routes);
      await stack.startWorker();
    }
  });
});
