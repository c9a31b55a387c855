import type { Batch } from 'openai/resources/batches';
import { chatLine, createChatBatch, readResults, uploadLines, waitForStatus } from '../support/batch-helpers';
import { expectConsistentEnd } from '../support/expectations';
import { pollUntil } from '../support/maintenance';
import { simulatedStack } from '../support/simulated-stack';
import { UpstreamSimulator } from '../support/upstream-simulator';

const FINAL = ['completed', 'failed', 'expired', 'cancelled'];

/** `POST /v1/batches/{id}/rerun`: the lines that failed (or never ran), as a new batch, through the official client. */
describe('rerun the failed lines of a batch', () => {
  const t = simulatedStack(
    { latencyMs: 100 },
    {
      UPSTREAM_CONCURRENCY: '2',
      CHUNK_SIZE: '10',
      CHECKPOINT_INTERVAL_MS: '100',
      UPSTREAM_MAX_RETRIES: '1',
      UPSTREAM_RETRY_BASE_MS: '10',
      UPSTREAM_OUTAGE_TOLERANCE_MS: '300',
    },
  );

  const rerun = (id: string, body?: object) =>
    t.stack.client().post<Batch>(`/batches/${id}/rerun`, body ? { body } : {});

  it('recovers every line of a batch whose first run hit an upstream outage', async () => {
    const client = t.stack.client();
    const lines = Array.from({ length: 40 }, (_, i) => chatLine(`out-${i}`, { temperature: 1.0, n: i }));
    const text = lines.map((l) => JSON.stringify(l));
    const batch = await client.batches.create({
      input_file_id: await uploadLines(client, text),
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    await pollUntil(
      () => client.batches.retrieve(batch.id),
      (b) => (b.request_counts?.completed ?? 0) >= 10,
    );
    // The upstream goes down: what is left fails as upstream_unreachable once the outage tolerance has passed.
    const port = t.sim.port;
    await t.sim.close();
    const first = await waitForStatus(client, batch.id, FINAL, 60000);
    expect(first.status).toBe('completed');
    const firstErrors = await readResults(client, first.error_file_id);
    expect(firstErrors.length).toBeGreaterThan(0);
    expect(firstErrors.every((e) => e.error?.code === 'upstream_unreachable')).toBe(true);
    t.sim = await UpstreamSimulator.start({ port, latencyMs: 100 });

    const second = await rerun(batch.id, { metadata: { why: 'outage' } });
    expect(second).toMatchObject({
      object: 'batch',
      status: 'validating',
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
      metadata: { why: 'outage', rerun_of: batch.id },
    });
    expect(second.id).not.toBe(batch.id);
    // Its input holds exactly the failed lines, byte for byte as uploaded.
    const failedIds = new Set(firstErrors.map((e) => e.custom_id));
    const input = await (await client.files.content(second.input_file_id)).text();
    expect(input).toBe(
      text
        .filter((_, i) => failedIds.has(`out-${i}`))
        .map((l) => `${l}\n`)
        .join(''),
    );
    expect((await client.files.retrieve(second.input_file_id)).purpose).toBe('batch');

    const done = await waitForStatus(client, second.id, FINAL, 60000);
    const { output } = await expectConsistentEnd(client, done, [...failedIds]);
    expect(output).toHaveLength(failedIds.size);
    // Both runs together: every line once, each with its answer.
    const firstOutput = await readResults(client, first.output_file_id);
    expect([...firstOutput, ...output].map((l) => l.custom_id).sort()).toEqual(lines.map((l) => l.custom_id).sort());
  });

  it('unfinished picks only the lines that never ran; refusals are clear', async () => {
    const client = t.stack.client();
    const { batch } = await createChatBatch(client, 'unf', 30);
    await pollUntil(
      () => client.batches.retrieve(batch.id),
      (b) => (b.request_counts?.completed ?? 0) >= 4,
    );
    // Not ended yet: 409.
    await expect(rerun(batch.id)).rejects.toMatchObject({ status: 409, code: 'batch_not_rerunnable' });
    await client.batches.cancel(batch.id);
    const cancelled = await waitForStatus(client, batch.id, FINAL, 30000);
    const notRun = (await readResults(client, cancelled.error_file_id)).map((e) => e.custom_id);
    const again = await rerun(batch.id, { lines: 'unfinished' });
    const input = await (await client.files.content(again.input_file_id)).text();
    expect(
      input
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { custom_id: string }).custom_id)
        .sort(),
    ).toEqual(notRun.sort());
    await waitForStatus(client, again.id, FINAL, 60000);

    // A batch whose every line succeeded has nothing to rerun.
    const { batch: clean } = await createChatBatch(client, 'clean', 3);
    await waitForStatus(client, clean.id, ['completed'], 30000);
    await expect(rerun(clean.id)).rejects.toMatchObject({ status: 400, code: 'no_lines_to_rerun' });
    await expect(rerun(clean.id, { lines: 'all' })).rejects.toMatchObject({ status: 400, param: 'lines' });
    await expect(rerun('batch_unknown')).rejects.toMatchObject({ status: 404 });
  });
});
