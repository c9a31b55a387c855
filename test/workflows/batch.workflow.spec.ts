import { Context } from '@temporalio/activity';
import { temporal } from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BatchActivities } from '../../activities';
import type { FinalizeInput, ProcessChunkInput, TransitionInput, ValidateInputResult } from '../../activities/types';
import { ensureTemporalCli } from '../../src/temporal/temporal-cli';
import { BATCH_SEARCH_ATTRIBUTES } from '../../src/temporal/search-attributes';
import { batchWorkflow, cancelSignal, progressQuery } from '../../workflows';

const HISTORY = join(__dirname, 'histories', 'batch-completed.json');

/** Fake activities that record what the workflow asked for; chunks can be made to run until cancelled. */
function fakeActivities(opts: {
  validation?: Partial<ValidateInputResult>;
  chunkMs?: number;
  hang?: boolean;
  started?: 'applied' | 'cancelling';
}) {
  const calls = {
    transitions: [] as TransitionInput[],
    chunks: [] as number[],
    finalize: [] as FinalizeInput[],
    peak: 0,
  };
  let running = 0;
  const activities: BatchActivities = {
    validateInput: async () => ({
      ok: true,
      total: 50,
      chunkCount: 10,
      window: 3,
      model: 'gpt-test',
      expiresAtMs: Date.now() + 3600_000,
      ...opts.validation,
    }),
    transition: async (input: TransitionInput) => {
      calls.transitions.push(input);
      if (input.to === 'in_progress' && opts.started === 'cancelling') return { applied: false, status: 'cancelling' };
      return { applied: true, status: input.to };
    },
    processChunk: async ({ chunk }: ProcessChunkInput) => {
      calls.chunks.push(chunk);
      running++;
      calls.peak = Math.max(calls.peak, running);
      try {
        const ctx = Context.current();
        const until = Date.now() + (opts.chunkMs ?? 10);
        while (opts.hang || Date.now() < until) {
          ctx.heartbeat();
          await ctx.sleep(50);
        }
        return { completed: 4, failed: 1 };
      } finally {
        running--;
      }
    },
    finalize: async (input: FinalizeInput) => {
      calls.finalize.push(input);
      const status = input.outcome === 'cancelled' ? 'cancelled' : input.outcome;
      return { status, completed: 0, failed: 0, unfinished: 0 };
    },
  } as unknown as BatchActivities;
  return { activities, calls };
}

describe('batchWorkflow against a real dev server', () => {
  let env: TestWorkflowEnvironment;
  let queue = 0;

  beforeAll(async () => {
    env = await TestWorkflowEnvironment.createLocal({
      server: {
        executable: { type: 'existing-path', path: ensureTemporalCli() },
        searchAttributes: BATCH_SEARCH_ATTRIBUTES.map((name) => ({ name, type: 'KEYWORD' as const })),
        extraArgs: ['--headless'],
      },
    });
  });
  afterAll(() => env?.teardown());

  async function run<T>(activities: BatchActivities, body: (taskQueue: string) => Promise<T>): Promise<T> {
    const taskQueue = `wf-${++queue}-${Date.now()}`;
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: { codePath: process.env.TEMPORAL_TEST_WORKFLOW_BUNDLE! },
      activities,
      maxHeartbeatThrottleInterval: '100 milliseconds',
      defaultHeartbeatThrottleInterval: '100 milliseconds',
    });
    return worker.runUntil(body(taskQueue));
  }

  it('runs every chunk through a window of at most `window` and finalizes completed', async () => {
    const { activities, calls } = fakeActivities({ chunkMs: 100 });
    const result = await run(activities, (taskQueue) =>
      env.client.workflow.execute(batchWorkflow, {
        taskQueue,
        workflowId: `wf-happy-${Date.now()}`,
        args: [{ batchId: 'b1' }],
      }),
    );
    expect(result).toEqual({ status: 'completed', completed: 0, failed: 0, unfinished: 0 });
    expect([...calls.chunks].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(calls.peak).toBeLessThanOrEqual(3);
    expect(calls.peak).toBeGreaterThan(1);
    expect(calls.transitions.map((t) => t.to)).toEqual(['in_progress', 'finalizing']);
    expect(calls.transitions[0]).toMatchObject({ total: 50, model: 'gpt-test' });
    expect(calls.finalize).toEqual([{ batchId: 'b1', outcome: 'completed' }]);
  });

  it('fails a batch whose validation failed, without running chunks', async () => {
    const { activities, calls } = fakeActivities({ validation: { ok: false } });
    const result = await run(activities, (taskQueue) =>
      env.client.workflow.execute(batchWorkflow, {
        taskQueue,
        workflowId: `wf-fail-${Date.now()}`,
        args: [{ batchId: 'b2' }],
      }),
    );
    expect(result).toEqual({ status: 'failed' });
    expect(calls.chunks).toEqual([]);
    expect(calls.transitions.map((t) => t.to)).toEqual(['failed']);
  });

  it('cancels in-flight chunks on the cancel signal and finalizes cancelled; the progress query answers', async () => {
    const { activities, calls } = fakeActivities({ hang: true });
    const { result, progress, search } = await run(activities, async (taskQueue) => {
      const handle = await env.client.workflow.start(batchWorkflow, {
        taskQueue,
        workflowId: `wf-cancel-${Date.now()}`,
        args: [{ batchId: 'b3' }],
      });
      while (calls.chunks.length < 3) await new Promise((r) => setTimeout(r, 50));
      const progress = await handle.query(progressQuery);
      const search = (await handle.describe()).searchAttributes;
      await handle.signal(cancelSignal);
      return { result: await handle.result(), progress, search };
    });
    expect(progress).toMatchObject({ status: 'in_progress', total: 50, chunkCount: 10, cancelRequested: false });
    expect(search).toMatchObject({ BatchStatus: ['in_progress'], BatchModel: ['gpt-test'] });
    expect(result.status).toBe('cancelled');
    expect(calls.chunks).toHaveLength(3); // no new chunk after the cancel
    expect(calls.finalize).toEqual([{ batchId: 'b3', outcome: 'cancelled' }]);
  });

  it('expires when the completion window ends and finalizes expired', async () => {
    const { activities, calls } = fakeActivities({ hang: true, validation: { expiresAtMs: Date.now() + 2000 } });
    const result = await run(activities, (taskQueue) =>
      env.client.workflow.execute(batchWorkflow, {
        taskQueue,
        workflowId: `wf-expire-${Date.now()}`,
        args: [{ batchId: 'b4' }],
      }),
    );
    expect(result.status).toBe('expired');
    expect(calls.transitions.map((t) => t.to)).toEqual(['in_progress', 'finalizing']);
    expect(calls.finalize).toEqual([{ batchId: 'b4', outcome: 'expired' }]);
  });

  it('ends cancelled when the store says cancelling before the batch starts', async () => {
    const { activities, calls } = fakeActivities({ started: 'cancelling' });
    const result = await run(activities, (taskQueue) =>
      env.client.workflow.execute(batchWorkflow, {
        taskQueue,
        workflowId: `wf-early-${Date.now()}`,
        args: [{ batchId: 'b5' }],
      }),
    );
    expect(result.status).toBe('cancelled');
    expect(calls.chunks).toEqual([]);
    expect(calls.finalize).toEqual([{ batchId: 'b5', outcome: 'cancelled' }]);
  });

  it('replays a recorded history with the current workflow code (determinism guard)', async () => {
    if (process.env.RECORD_HISTORIES === '1' || !existsSync(HISTORY)) {
      // Recording is a deliberate act (RECORD_HISTORIES=1); the committed file is what CI replays.
      const { activities } = fakeActivities({ chunkMs: 20 });
      const history = await run(activities, async (taskQueue) => {
        const handle = await env.client.workflow.start(batchWorkflow, {
          taskQueue,
          workflowId: 'wf-recorded',
          args: [{ batchId: 'recorded' }],
        });
        await handle.result();
        return handle.fetchHistory();
      });
      writeFileSync(HISTORY, JSON.stringify(history));
    }
    const history = temporal.api.history.v1.History.fromObject(JSON.parse(readFileSync(HISTORY, 'utf8')));
    await Worker.runReplayHistory(
      { workflowBundle: { codePath: process.env.TEMPORAL_TEST_WORKFLOW_BUNDLE! } },
      history,
      'wf-recorded',
    );
  });
});
