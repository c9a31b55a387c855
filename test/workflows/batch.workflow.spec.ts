import { Context } from '@temporalio/activity';
import { temporal } from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { WorkflowHandle } from '@temporalio/client';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BatchActivities } from '../../activities';
import { ApplicationFailure } from '@temporalio/common';
import type {
  FinalizeInput,
  NotifyWebhookInput,
  ProcessChunkInput,
  TransitionInput,
  ValidateInputInput,
  ValidateInputResult,
} from '../../activities/types';
import { ensureTemporalCli } from '../../src/temporal/temporal-cli';
import { BATCH_SEARCH_ATTRIBUTES } from '../../src/temporal/prepare-namespace';
import { batchWorkflow, cancelSignal, progressQuery } from '../../workflows';
import { BATCH_WORKFLOW_STEPS } from '../../workflows/steps';

/** Fake activities that record what the workflow asked for; chunks can be made to run until cancelled. */
function fakeActivities(opts: {
  validation?: Partial<ValidateInputResult>;
  /** How long validation takes (heartbeating). */
  validateMs?: number;
  /** This chunk fails for good (non-retryable). */
  failChunk?: number;
  chunkMs?: number;
  hang?: boolean;
  /** Validation never finishes (it heartbeats until cancelled). */
  validateHangs?: boolean;
  /** What the store says when the workflow moves the batch to in_progress. */
  started?: 'applied' | 'cancelling' | 'completed' | 'finalizing';
  /** Makes every webhook delivery fail for good. */
  webhookRejects?: boolean;
  /** The first validation attempt fails (retryably). */
  validateFailsOnce?: boolean;
}) {
  const calls = {
    transitions: [] as TransitionInput[],
    chunks: [] as number[],
    finalize: [] as FinalizeInput[],
    notify: [] as NotifyWebhookInput[],
    /** Status writes and webhook deliveries, in order. */
    ends: [] as string[],
    peak: 0,
    /** Reads of the committed counts for the current details. */
    reads: 0,
    /** Validation attempts, and whether each ran as a local activity. */
    validations: [] as boolean[],
  };
  let running = 0;
  const validated = (): ValidateInputResult => ({
    ok: true,
    total: 50,
    chunkCount: 10,
    window: 3,
    model: 'gpt-test',
    expiresAtMs: Date.now() + 3600_000,
    ...opts.validation,
  });
  const transition = async (input: TransitionInput) => {
    calls.transitions.push(input);
    calls.ends.push(input.to);
    if (input.to === 'in_progress' && opts.started && opts.started !== 'applied') {
      return { applied: false, status: opts.started };
    }
    return { applied: true, status: input.to };
  };
  const activities: BatchActivities = {
    validateInput: async ({ batchId, start }: ValidateInputInput) => {
      const ctx = Context.current();
      calls.validations.push(ctx.info.isLocal);
      if (opts.validateFailsOnce && calls.validations.length === 1) throw new Error('the store is busy');
      const until = Date.now() + (opts.validateMs ?? 0);
      while (opts.validateHangs || Date.now() < until) {
        ctx.heartbeat();
        await ctx.sleep(50);
      }
      const result = validated();
      if (!start) return result;
      // With `start` the real activity moves the batch on itself, as the transition activity would.
      const { total, model } = result;
      const next: TransitionInput = result.ok
        ? { batchId, from: ['validating'], to: 'in_progress', total, model }
        : { batchId, from: ['validating'], to: 'failed' };
      return { ...result, started: await transition(next) };
    },
    transition,
    processChunk: async ({ chunk }: ProcessChunkInput) => {
      calls.chunks.push(chunk);
      if (chunk === opts.failChunk) {
        throw ApplicationFailure.create({ type: 'ChunkNotFound', message: `chunk ${chunk}`, nonRetryable: true });
      }
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
      if (input.enterFinalizing) await transition({ batchId: input.batchId, from: ['in_progress'], to: 'finalizing' });
      calls.finalize.push({ batchId: input.batchId, outcome: input.outcome });
      calls.ends.push(input.outcome);
      const status = input.outcome === 'cancelled' ? 'cancelled' : input.outcome;
      return { status, completed: 0, failed: 0, unfinished: 0 };
    },
    readProgress: async () => {
      calls.reads++;
      return { completed: 2, failed: 1, waitingOn: 'upstream default: sending, concurrency 1 of 4' };
    },
    notifyWebhook: async (input: NotifyWebhookInput) => {
      calls.notify.push(input);
      calls.ends.push(input.type);
      if (opts.webhookRejects) {
        throw ApplicationFailure.create({ type: 'WebhookRejected', message: 'answered 400', nonRetryable: true });
      }
      return { eventId: `evt_${input.batchId}`, status: 200 };
    },
  } as unknown as BatchActivities;
  return { activities, calls };
}

/** Options of the fake activities a recorded history ran with. */
type FakeOptions = Parameters<typeof fakeActivities>[0];

/** Waits until the fake activities have seen three chunks start: the batch is well under way. */
async function threeChunksStarted(calls: { chunks: number[] }): Promise<void> {
  while (calls.chunks.length < 3) await new Promise((r) => setTimeout(r, 50));
}

/** A recorded history's drive: the cancel signal, once three chunks have started. */
async function cancelAfterThreeChunks(
  handle: WorkflowHandle<typeof batchWorkflow>,
  calls: { chunks: number[] },
): Promise<void> {
  await threeChunksStarted(calls);
  await handle.signal(cancelSignal);
}

/**
 * Recorded histories, one per path a batch can take. Each was recorded with the workflow code of its day; the
 * current code must replay every one of them (a batch started before an upgrade continues on the new worker).
 * `drive` acts on the workflow while it records (a cancel signal).
 */
const HISTORIES: {
  file: string;
  batchId: string;
  workflowId?: string;
  fakes: FakeOptions;
  /** Started with a completion window this far from the start (the window then covers validation). */
  expiresInMs?: number;
  /** Started with the input's size (a small one takes the local steps). */
  inputBytes?: number;
  /** Started with the workflow's steps in its input (batches started since the steps came from the input). */
  steps?: number;
  drive?: (handle: WorkflowHandle<typeof batchWorkflow>, calls: { chunks: number[] }) => Promise<void>;
}[] = [
  // Recorded before webhooks existed.
  { file: 'batch-completed.json', batchId: 'recorded', fakes: { chunkMs: 20 } },
  {
    file: 'batch-completed-webhooks.json',
    batchId: 'recorded-wh',
    workflowId: 'wf-recorded-webhooks',
    fakes: { chunkMs: 20, validation: { webhooks: true } },
  },
  { file: 'batch-validation-failed.json', batchId: 'recorded-vf', fakes: { validation: { ok: false } } },
  {
    file: 'batch-cancelled-validating.json',
    batchId: 'recorded-cv',
    fakes: { validateMs: 1500, started: 'cancelling' },
    drive: async (handle) => {
      await new Promise((r) => setTimeout(r, 500));
      await handle.signal(cancelSignal);
    },
  },
  {
    file: 'batch-cancelled-in-progress.json',
    batchId: 'recorded-cp',
    fakes: { hang: true },
    drive: cancelAfterThreeChunks,
  },
  {
    file: 'batch-expired.json',
    batchId: 'recorded-ex',
    fakes: { hang: true, validation: { expiresAtMs: Date.now() + 2000 } },
  },
  {
    file: 'batch-expired-webhooks.json',
    batchId: 'recorded-ex-wh',
    fakes: { hang: true, validation: { expiresAtMs: Date.now() + 2000, webhooks: true } },
  },
  { file: 'batch-chunk-failed.json', batchId: 'recorded-cf', fakes: { chunkMs: 20, failChunk: 1 } },
  // Recorded once Request Cancellation, the window over validation and failing chunks were handled.
  {
    file: 'batch-operator-cancel.json',
    batchId: 'recorded-oc',
    fakes: { hang: true },
    drive: async (handle, calls) => {
      await threeChunksStarted(calls);
      await handle.cancel();
    },
  },
  {
    file: 'batch-expired-validating.json',
    batchId: 'recorded-ev',
    fakes: { validateHangs: true },
    expiresInMs: 1500,
  },
  {
    file: 'batch-live-progress.json',
    batchId: 'recorded-lp',
    fakes: { chunkMs: 1200, validation: { progressRefreshMs: 300, chunkCount: 2, window: 2 } },
    expiresInMs: 3600_000,
  },
  // Recorded with fewer steps per batch (validation and finalize move the batch on themselves).
  {
    file: 'batch-fewer-steps.json',
    batchId: 'recorded-fs',
    fakes: { chunkMs: 20, validation: { webhooks: true, progressRefreshMs: 60_000 } },
    expiresInMs: 3600_000,
  },
  {
    file: 'batch-fewer-steps-failed.json',
    batchId: 'recorded-fs-vf',
    fakes: { validation: { ok: false, webhooks: true } },
    expiresInMs: 3600_000,
  },
  {
    file: 'batch-fewer-steps-cancelled.json',
    batchId: 'recorded-fs-cp',
    fakes: { hang: true },
    expiresInMs: 3600_000,
    drive: cancelAfterThreeChunks,
  },
  {
    file: 'batch-chunk-failed-continues.json',
    batchId: 'recorded-cfc',
    fakes: { chunkMs: 20, failChunk: 1, validation: { webhooks: true } },
    expiresInMs: 3600_000,
  },
  // Recorded once a small input was validated and finalized in local activities.
  {
    file: 'batch-local-steps.json',
    batchId: 'recorded-ls',
    fakes: { chunkMs: 20, validation: { webhooks: true } },
    expiresInMs: 3600_000,
    inputBytes: 2048,
  },
  {
    file: 'batch-local-steps-fallback.json',
    batchId: 'recorded-ls-fb',
    fakes: { chunkMs: 20, validateFailsOnce: true },
    expiresInMs: 3600_000,
    inputBytes: 2048,
  },
  // Recorded once a small input's fewer and local steps took one patch marker instead of two.
  {
    file: 'batch-small-input-steps.json',
    batchId: 'recorded-sis',
    fakes: { chunkMs: 20, validation: { webhooks: true } },
    expiresInMs: 3600_000,
    inputBytes: 2048,
  },
  {
    file: 'batch-small-input-steps-cancelled.json',
    batchId: 'recorded-sis-cp',
    fakes: { hang: true },
    expiresInMs: 3600_000,
    inputBytes: 2048,
    drive: cancelAfterThreeChunks,
  },
  {
    file: 'batch-local-steps-cancelled.json',
    batchId: 'recorded-ls-cp',
    fakes: { hang: true },
    expiresInMs: 3600_000,
    inputBytes: 2048,
    drive: cancelAfterThreeChunks,
  },
  // Started with the workflow's steps in the input by an API that knew them, and run by a worker that did not: its
  // patch markers are in the history.
  {
    file: 'batch-steps-run-by-older-worker.json',
    batchId: 'recorded-sow',
    fakes: { chunkMs: 20, validation: { webhooks: true } },
    expiresInMs: 3600_000,
    inputBytes: 2048,
    steps: 1,
  },
  {
    file: 'batch-steps-run-by-older-worker-large.json',
    batchId: 'recorded-sow-l',
    fakes: { chunkMs: 20 },
    expiresInMs: 3600_000,
    inputBytes: 50_000_000,
    steps: 1,
  },
  // Recorded once a batch took its steps from its input: no patch markers.
  {
    file: 'batch-steps-from-input.json',
    batchId: 'recorded-sfi',
    fakes: { chunkMs: 20, validation: { webhooks: true } },
    expiresInMs: 3600_000,
    inputBytes: 2048,
    steps: 1,
  },
  {
    file: 'batch-steps-from-input-large.json',
    batchId: 'recorded-sfi-l',
    fakes: { chunkMs: 20, validation: { progressRefreshMs: 60_000 } },
    expiresInMs: 3600_000,
    inputBytes: 50_000_000,
    steps: 1,
  },
  {
    file: 'batch-steps-from-input-cancelled.json',
    batchId: 'recorded-sfi-cp',
    fakes: { hang: true },
    expiresInMs: 3600_000,
    inputBytes: 2048,
    steps: 1,
    drive: cancelAfterThreeChunks,
  },
];

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
    const workflowId = `wf-happy-${Date.now()}`;
    const result = await run(activities, (taskQueue) =>
      env.client.workflow.execute(batchWorkflow, { taskQueue, workflowId, args: [{ batchId: 'b1' }] }),
    );
    // Each chunk activity carries a summary for the Web UI: which requests it holds.
    const history = await env.client.workflow.getHandle(workflowId).fetchHistory();
    const summaries = (history.events ?? [])
      .filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'processChunk')
      .map((e) => JSON.parse(Buffer.from(e.userMetadata!.summary!.data!).toString()) as string);
    expect(summaries).toHaveLength(10);
    expect(summaries).toContain('chunk 1 of 10: requests 1-5');
    expect(summaries).toContain('chunk 10 of 10: requests 46-50');
    expect(result).toEqual({ status: 'completed', completed: 0, failed: 0, unfinished: 0 });
    expect([...calls.chunks].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(calls.peak).toBeLessThanOrEqual(3);
    expect(calls.peak).toBeGreaterThan(1);
    expect(calls.transitions.map((t) => t.to)).toEqual(['in_progress', 'finalizing']);
    expect(calls.transitions[0]).toMatchObject({ total: 50, model: 'gpt-test' });
    expect(calls.finalize).toEqual([{ batchId: 'b1', outcome: 'completed' }]);
    expect(calls.notify).toEqual([]); // validation did not ask for webhooks
  });

  it('validates and finalizes a small input in local activities: markers, not activity tasks', async () => {
    const { activities, calls } = fakeActivities({ chunkMs: 20 });
    const workflowId = `wf-local-${Date.now()}`;
    const result = await run(activities, (taskQueue) =>
      env.client.workflow.execute(batchWorkflow, {
        taskQueue,
        workflowId,
        args: [{ batchId: 'b-local', inputBytes: 4096, expiresAtMs: Date.now() + 3600_000 }],
      }),
    );
    expect(result).toEqual({ status: 'completed', completed: 0, failed: 0, unfinished: 0 });
    expect(calls.finalize).toHaveLength(1);
    const events = (await env.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
    const scheduled = events
      .map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name)
      .filter((name): name is string => !!name);
    expect(new Set(scheduled)).toEqual(new Set(['processChunk']));
    expect(events.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity')).toHaveLength(2);
    // One patch marker says both "fewer steps" and "local steps": each marker comes with an upsert of Temporal's
    // TemporalChangeVersion search attribute, so the small path's history has one of each, not two.
    expect(events.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch')).toHaveLength(1);
    const upserts = events.filter((e) => e.upsertWorkflowSearchAttributesEventAttributes);
    expect(
      upserts.filter(
        (e) => e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields?.TemporalChangeVersion,
      ),
    ).toHaveLength(1);
    // A large input keeps the activities (they heartbeat as they stream it).
    const large = `wf-large-${Date.now()}`;
    await run(fakeActivities({ chunkMs: 20 }).activities, (taskQueue) =>
      env.client.workflow.execute(batchWorkflow, {
        taskQueue,
        workflowId: large,
        args: [{ batchId: 'b-large', inputBytes: 50_000_000, expiresAtMs: Date.now() + 3600_000 }],
      }),
    );
    const largeScheduled = ((await env.client.workflow.getHandle(large).fetchHistory()).events ?? []).map(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name,
    );
    expect(largeScheduled).toContain('validateInput');
    expect(largeScheduled).toContain('finalize');
  });

  it('a batch started with the workflow steps in its input takes them from there: no patch marker, no version upsert', async () => {
    for (const inputBytes of [4096, 50_000_000]) {
      const { activities, calls } = fakeActivities({ chunkMs: 20 });
      const workflowId = `wf-steps-${inputBytes}-${Date.now()}`;
      const result = await run(activities, (taskQueue) =>
        env.client.workflow.execute(batchWorkflow, {
          taskQueue,
          workflowId,
          args: [{ batchId: 'b-steps', inputBytes, expiresAtMs: Date.now() + 3600_000, steps: BATCH_WORKFLOW_STEPS }],
        }),
      );
      expect(result).toEqual({ status: 'completed', completed: 0, failed: 0, unfinished: 0 });
      expect(calls.finalize).toEqual([{ batchId: 'b-steps', outcome: 'completed' }]);
      const events = (await env.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
      // Fewer steps: validation and finalize move the batch on themselves, so no transition activity runs.
      const scheduled = events.map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name).filter(Boolean);
      expect(scheduled).not.toContain('transition');
      expect(events.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch')).toHaveLength(0);
      const upserted = events.flatMap((e) =>
        Object.keys(e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields ?? {}),
      );
      expect(upserted).not.toContain('TemporalChangeVersion');
      expect(upserted).toContain('BatchStatus');
      // A small input still takes the local steps; a large one the activities.
      const localSteps = events.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity');
      expect(localSteps).toHaveLength(inputBytes === 4096 ? 2 : 0);
    }
  });

  it('a local step that fails goes on as the activity, and the batch completes', async () => {
    const { activities, calls } = fakeActivities({ chunkMs: 20, validateFailsOnce: true });
    const result = await run(activities, (taskQueue) =>
      env.client.workflow.execute(batchWorkflow, {
        taskQueue,
        workflowId: `wf-local-fails-${Date.now()}`,
        args: [{ batchId: 'b-local-fails', inputBytes: 4096, expiresAtMs: Date.now() + 3600_000 }],
      }),
    );
    expect(result).toEqual({ status: 'completed', completed: 0, failed: 0, unfinished: 0 });
    expect(calls.validations).toEqual([true, false]);
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
      await threeChunksStarted(calls);
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

  it('Request Cancellation is carried out as the API cancel: cancelling in the store, chunks stop, finalize cancelled', async () => {
    const { activities, calls } = fakeActivities({ hang: true });
    const workflowId = `wf-operator-cancel-${Date.now()}`;
    const result = await run(activities, async (taskQueue) => {
      const handle = await env.client.workflow.start(batchWorkflow, {
        taskQueue,
        workflowId,
        args: [{ batchId: 'oc' }],
      });
      await threeChunksStarted(calls);
      await handle.cancel();
      return handle.result();
    });
    expect(result.status).toBe('cancelled');
    expect(calls.transitions.map((t) => [t.from, t.to])).toEqual([
      [['validating'], 'in_progress'],
      [['validating', 'in_progress'], 'cancelling'],
    ]);
    expect(calls.chunks).toHaveLength(3);
    expect(calls.finalize).toEqual([{ batchId: 'oc', outcome: 'cancelled' }]);
    // The workflow itself completes: the batch ended as the store says.
    expect((await env.client.workflow.getHandle(workflowId).describe()).status.name).toBe('COMPLETED');
  });

  it('reads the committed counts into its current details while chunks run', async () => {
    const { activities, calls } = fakeActivities({
      hang: true,
      validation: { progressRefreshMs: 200, chunkCount: 1, total: 50 },
    });
    const workflowId = `wf-live-${Date.now()}`;
    const details = await run(activities, async (taskQueue) => {
      const handle = await env.client.workflow.start(batchWorkflow, {
        taskQueue,
        workflowId,
        args: [{ batchId: 'live' }],
      });
      while (calls.reads < 2) await new Promise((r) => setTimeout(r, 50));
      const metadata = (await handle.query('__temporal_workflow_metadata')) as { currentDetails?: string };
      await handle.signal(cancelSignal);
      await handle.result();
      return metadata.currentDetails;
    });
    expect(details).toBe(
      'in_progress: 3 of 50 done, 1 failed; chunks 0/1; upstream default: sending, concurrency 1 of 4',
    );
  });

  it('counts the window from creation: a validation that never finishes ends the batch expired', async () => {
    const { activities, calls } = fakeActivities({ validateHangs: true });
    const result = await run(activities, (taskQueue) =>
      env.client.workflow.execute(batchWorkflow, {
        taskQueue,
        workflowId: `wf-window-${Date.now()}`,
        args: [{ batchId: 'win', expiresAtMs: Date.now() + 1500 }],
      }),
    );
    expect(result.status).toBe('expired');
    expect(calls.transitions.map((t) => [t.from, t.to])).toEqual([[['validating'], 'finalizing']]);
    expect(calls.chunks).toEqual([]);
    expect(calls.finalize).toEqual([{ batchId: 'win', outcome: 'expired' }]);
  });

  it('a chunk that fails for good does not stop the others; the batch finalizes completed', async () => {
    const { activities, calls } = fakeActivities({ failChunk: 1 });
    const result = await run(activities, (taskQueue) =>
      env.client.workflow.execute(batchWorkflow, {
        taskQueue,
        workflowId: `wf-chunk-fails-${Date.now()}`,
        args: [{ batchId: 'cf' }],
      }),
    );
    expect(result.status).toBe('completed');
    expect([...calls.chunks].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(calls.finalize).toEqual([{ batchId: 'cf', outcome: 'completed' }]);
  });

  it.each([
    ['ended already (a reset run, or another actor ended it)', 'completed' as const, [], 'completed'],
    [
      'finalizing (a reset to before finalize)',
      'finalizing' as const,
      [{ batchId: 'ahead', outcome: 'completed' }],
      'completed',
    ],
  ])('a run that finds the store ahead of it, %s, does not undo it', async (_name, started, finalize, status) => {
    const { activities, calls } = fakeActivities({ started });
    const result = await run(activities, (taskQueue) =>
      env.client.workflow.execute(batchWorkflow, {
        taskQueue,
        workflowId: `wf-ahead-${started}-${Date.now()}`,
        args: [{ batchId: 'ahead' }],
      }),
    );
    expect(result.status).toBe(status);
    expect(calls.chunks).toEqual([]);
    expect(calls.finalize).toEqual(finalize);
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

  it.each([
    ['completed', {}, ['in_progress', 'finalizing', 'completed', 'batch.completed']],
    ['failed', { validation: { ok: false } }, ['failed', 'batch.failed']],
    ['cancelled', { started: 'cancelling' as const }, ['in_progress', 'cancelled', 'batch.cancelled']],
    [
      'expired',
      { hang: true, validation: { expiresAtMs: Date.now() + 2000 } },
      ['in_progress', 'finalizing', 'expired', 'batch.expired'],
    ],
  ])('with a webhook, announces the end state %s once, after it is written', async (status, opts, ends) => {
    const { activities, calls } = fakeActivities({
      ...opts,
      validation: { webhooks: true, ...('validation' in opts ? opts.validation : {}) },
    });
    const result = await run(activities, (taskQueue) =>
      env.client.workflow.execute(batchWorkflow, {
        taskQueue,
        workflowId: `wf-hook-${status}-${Date.now()}`,
        args: [{ batchId: `hook-${status}` }],
      }),
    );
    expect(result.status).toBe(status);
    expect(calls.ends).toEqual(ends);
    expect(calls.notify).toEqual([{ batchId: `hook-${status}`, type: `batch.${status}` }]);
  });

  it('ends the batch as it ended when the webhook refuses the event', async () => {
    const { activities, calls } = fakeActivities({ validation: { webhooks: true }, webhookRejects: true });
    const result = await run(activities, (taskQueue) =>
      env.client.workflow.execute(batchWorkflow, {
        taskQueue,
        workflowId: `wf-hook-refused-${Date.now()}`,
        args: [{ batchId: 'b6' }],
      }),
    );
    expect(result).toEqual({ status: 'completed', completed: 0, failed: 0, unfinished: 0 });
    expect(calls.notify).toEqual([{ batchId: 'b6', type: 'batch.completed' }]);
  });

  it.each(HISTORIES)(
    'replays the recorded history $file with the current workflow code (determinism guard)',
    async ({ file, batchId, workflowId = `wf-${batchId}`, fakes, drive, expiresInMs, inputBytes, steps }) => {
      const path = join(__dirname, 'histories', file);
      if (process.env.RECORD_HISTORIES === '1' || !existsSync(path)) {
        // Recording is a deliberate act (RECORD_HISTORIES=1); the committed file is what CI replays.
        const { activities, calls } = fakeActivities(fakes);
        const history = await run(activities, async (taskQueue) => {
          const handle = await env.client.workflow.start(batchWorkflow, {
            taskQueue,
            workflowId,
            args: [
              {
                batchId,
                ...(expiresInMs ? { expiresAtMs: Date.now() + expiresInMs } : {}),
                ...(inputBytes ? { inputBytes } : {}),
                ...(steps ? { steps } : {}),
              },
            ],
          });
          await drive?.(handle, calls);
          await handle.result();
          return handle.fetchHistory();
        });
        writeFileSync(path, JSON.stringify(history));
      }
      const history = temporal.api.history.v1.History.fromObject(JSON.parse(readFileSync(path, 'utf8')));
      await Worker.runReplayHistory(
        { workflowBundle: { codePath: process.env.TEMPORAL_TEST_WORKFLOW_BUNDLE! } },
        history,
        workflowId,
      );
    },
  );
});
