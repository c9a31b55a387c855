import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { NativeConnection, Worker } from '@temporalio/worker';
import type {
  DeleteExpiredFilesInput,
  MaintenanceActivities,
  RepairStrandedBatchesInput,
  RestartOrphanedBatchesInput,
} from '../../activities/maintenance';
import { installTemporalRuntime } from '../../src/temporal/runtime';
import { maintenanceWorkflow } from '../../workflows';

/** Fake maintenance activities that record their inputs; deleteExpiredFiles can be made to fail for good. */
function fakeActivities(opts: { failFiles?: boolean } = {}) {
  const calls = {
    files: [] as DeleteExpiredFilesInput[],
    batches: [] as RestartOrphanedBatchesInput[],
    stranded: [] as RepairStrandedBatchesInput[],
  };
  const activities: MaintenanceActivities = {
    deleteExpiredFiles: async (input) => {
      calls.files.push(input);
      if (opts.failFiles) throw ApplicationFailure.create({ message: 'blob store down', nonRetryable: true });
      return { deleted: 3 };
    },
    restartOrphanedBatches: async (input) => {
      calls.batches.push(input);
      return { checked: 2, restarted: 1 };
    },
    repairStrandedBatches: async (input) => {
      calls.stranded.push(input);
      return { checked: 4, repaired: 2, resignalled: 1 };
    },
  };
  return { activities, calls };
}

describe('maintenanceWorkflow on the run dev server', () => {
  let native: NativeConnection;
  let connection: Connection;
  let client: Client;
  let queue = 0;

  beforeAll(async () => {
    installTemporalRuntime('error', 'worker');
    native = await NativeConnection.connect({ address: process.env.TEMPORAL_TEST_ADDRESS });
    connection = await Connection.connect({ address: process.env.TEMPORAL_TEST_ADDRESS });
    client = new Client({ connection });
  });
  afterAll(async () => {
    await connection.close();
    await native.close();
  });

  async function run(activities: MaintenanceActivities, orphanGraceSeconds: number) {
    const taskQueue = `maint-${++queue}-${Date.now()}`;
    const worker = await Worker.create({
      connection: native,
      taskQueue,
      workflowBundle: { codePath: process.env.TEMPORAL_TEST_WORKFLOW_BUNDLE! },
      activities,
    });
    return worker.runUntil(
      client.workflow.execute(maintenanceWorkflow, {
        taskQueue,
        workflowId: `${taskQueue}-run`,
        args: [{ orphanGraceSeconds }],
      }),
    );
  }

  it('runs its duties with cutoffs from one workflow time and reports their counts', async () => {
    const { activities, calls } = fakeActivities();
    const before = Math.floor(Date.now() / 1000);
    const result = await run(activities, 60);
    expect(result).toEqual({
      filesDeleted: 3,
      batchesChecked: 2,
      batchesRestarted: 1,
      batchesRepaired: 2,
      cancelsResignalled: 1,
    });
    const [{ expiredBy }] = calls.files;
    expect(expiredBy).toBeGreaterThanOrEqual(before - 1);
    expect(expiredBy).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
    expect(calls.batches).toEqual([{ createdBefore: expiredBy - 60 }]);
    expect(calls.stranded).toEqual([{ now: expiredBy, graceSeconds: 60 }]);
  });

  it('still restarts orphaned batches when file deletion fails, then fails the run', async () => {
    const { activities, calls } = fakeActivities({ failFiles: true });
    const error = await run(activities, 30).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(WorkflowFailedError);
    expect((error as WorkflowFailedError).cause).toMatchObject({ type: 'MaintenanceFailed' });
    expect(calls.files).toHaveLength(1);
    expect(calls.batches).toHaveLength(1);
  });
});
