import { APIError } from 'openai';
import type OpenAI from 'openai';
import type { Batch } from 'openai/resources/batches';
import { createChatBatch, waitForStatus } from '../support/batch-helpers';
import { expectConsistentEnd } from '../support/expectations';
import { simulatedStack } from '../support/simulated-stack';

/** A cancel's answer: the batch (200) or the API error. */
async function cancel(client: OpenAI, id: string): Promise<Batch | APIError> {
  return client.batches.cancel(id).catch((err: unknown) => {
    if (err instanceof APIError) return err;
    throw err;
  });
}

/** A refused cancel must be the documented 409 on a batch that is finishing or finished. */
function expectRefusal(err: APIError): void {
  expect(err).toMatchObject({ status: 409, code: 'batch_not_cancellable' });
  expect(err.headers?.get('x-should-retry')).toBe('false');
}

describe('cancel races', () => {
  const t = simulatedStack(
    { latencyMs: 10 },
    {
      UPSTREAM_CONCURRENCY: '4',
      CHUNK_SIZE: '10',
      CHECKPOINT_INTERVAL_MS: '100',
    },
  );

  it('two cancels at once: both answer 200, the batch is cancelled once, every line once', async () => {
    const client = t.stack.client();
    const { ids, batch } = await createChatBatch(client, 'two', 300);
    await waitForStatus(client, batch.id, ['in_progress'], 30000);
    const answers = await Promise.all([cancel(client, batch.id), cancel(client, batch.id)]);
    for (const a of answers) {
      expect(a).not.toBeInstanceOf(APIError);
      expect(['cancelling', 'cancelled']).toContain((a as Batch).status);
    }
    const done = await waitForStatus(client, batch.id, ['cancelled', 'completed'], 30000);
    expect(done.status).toBe('cancelled');
    expect(done.cancelling_at).toBe((answers[0] as Batch).cancelling_at);
    await expectConsistentEnd(client, done, ids);
  });

  it('cancel during validating: the batch ends cancelled with every line accounted for', async () => {
    const client = t.stack.client();
    const { ids, batch } = await createChatBatch(client, 'val', 5000);
    const answer = await cancel(client, batch.id);
    expect(answer).not.toBeInstanceOf(APIError);
    expect((answer as Batch).status).toBe('cancelling');
    const done = await waitForStatus(client, batch.id, ['cancelled', 'completed', 'failed'], 60000);
    expect(done.status).toBe('cancelled');
    await expectConsistentEnd(client, done, ids);
  });

  it('cancel racing finalize: either 409 and completed, or 200 and cancelled; never a mix', async () => {
    const client = t.stack.client();
    const seen = new Set<string>();
    for (let round = 0; round < 4; round++) {
      const { ids, batch } = await createChatBatch(client, `fin${round}`, 40);
      // Cancel as the last requests finish, so the cancel meets the move to finalizing.
      let current = await client.batches.retrieve(batch.id);
      while (current.status !== 'completed' && (current.request_counts?.completed ?? 0) < 40 - round * 5) {
        await new Promise((r) => setTimeout(r, 5));
        current = await client.batches.retrieve(batch.id);
      }
      const answer = await cancel(client, batch.id);
      const done = await waitForStatus(client, batch.id, ['cancelled', 'completed'], 30000);
      if (answer instanceof APIError) {
        expectRefusal(answer);
        expect(done.status).toBe('completed');
      } else {
        expect(done.status).toBe('cancelled');
      }
      seen.add(done.status);
      await expectConsistentEnd(client, done, ids);
    }
    // And once the move to finalizing has begun: refused, and the batch completes.
    const { ids, batch } = await createChatBatch(client, 'fin-late', 40);
    let current = await client.batches.retrieve(batch.id);
    while (current.status === 'validating' || current.status === 'in_progress') {
      await new Promise((r) => setTimeout(r, 5));
      current = await client.batches.retrieve(batch.id);
    }
    expectRefusal((await cancel(client, batch.id)) as APIError);
    const done = await waitForStatus(client, batch.id, ['completed'], 30000);
    seen.add(`${current.status} -> ${done.status}`);
    await expectConsistentEnd(client, done, ids);
    console.log(`cancel racing finalize: end states seen ${[...seen].join(', ')}`);
  });
});

describe('cancel racing expiry', () => {
  const t = simulatedStack(
    { latencyMs: 200 },
    {
      UPSTREAM_CONCURRENCY: '2',
      COMPLETION_WINDOW_SECONDS: '2',
      CHUNK_SIZE: '5',
      CHECKPOINT_INTERVAL_MS: '100',
    },
  );

  it('a cancel just before, at and just after the deadline: one end state, matching error codes', async () => {
    const client = t.stack.client();
    const seen: string[] = [];
    for (const offsetMs of [-300, 0, 300, 1200]) {
      const { ids, batch } = await createChatBatch(client, `exp${offsetMs}`, 40);
      const wait = batch.expires_at! * 1000 + offsetMs - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const answer = await cancel(client, batch.id);
      if (answer instanceof APIError) expectRefusal(answer);
      const done = await waitForStatus(client, batch.id, ['cancelled', 'expired', 'completed'], 30000);
      expect(['cancelled', 'expired']).toContain(done.status);
      expect(done.status).toBe(answer instanceof APIError ? 'expired' : 'cancelled');
      seen.push(`${offsetMs} ms: ${answer instanceof APIError ? 409 : 200} -> ${done.status}`);
      // expectConsistentEnd checks the unfinished lines carry batch_expired or batch_cancelled to match.
      await expectConsistentEnd(client, done, ids);
    }
    console.log(`cancel racing expiry: ${seen.join('; ')}`);
  });
});
