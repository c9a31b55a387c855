import {
  ScheduleAlreadyRunning,
  ScheduleOverlapPolicy,
  type ScheduleClient,
  type ScheduleDescription,
  type ScheduleOptionsStartWorkflowAction,
  type ScheduleSpec,
} from '@temporalio/client';
import { isDeepStrictEqual } from 'node:util';
import type { maintenanceWorkflow, MaintenanceWorkflowInput } from '../../workflows';

/** What the maintenance schedule is made of (from the configuration of the worker that ensures it). */
export interface MaintenanceScheduleSettings {
  taskQueue: string;
  /** RETENTION_INTERVAL_SECONDS. */
  intervalSeconds: number;
  /** ORPHANED_BATCH_GRACE_SECONDS. */
  orphanGraceSeconds: number;
}

/** One schedule per task queue: the workers of that queue run it. */
export const maintenanceScheduleId = (taskQueue: string): string => `batch-maintenance-${taskQueue}`;

type MaintenanceAction = ScheduleOptionsStartWorkflowAction<typeof maintenanceWorkflow>;

function desired(settings: MaintenanceScheduleSettings): { spec: ScheduleSpec; action: MaintenanceAction } {
  const args: [MaintenanceWorkflowInput] = [{ orphanGraceSeconds: settings.orphanGraceSeconds }];
  return {
    spec: { intervals: [{ every: settings.intervalSeconds * 1000 }] },
    action: {
      type: 'startWorkflow',
      workflowType: 'maintenanceWorkflow',
      // Each run's id is this plus the time it was scheduled for.
      workflowId: maintenanceScheduleId(settings.taskQueue),
      taskQueue: settings.taskQueue,
      args,
      staticSummary: 'delete expired files; start batches whose workflow never started',
    },
  };
}

/** Whether an existing schedule already runs the desired action at the desired interval. */
function matches(current: ScheduleDescription, settings: MaintenanceScheduleSettings): boolean {
  const { action } = desired(settings);
  const intervals = current.spec.intervals ?? [];
  return (
    intervals.length === 1 &&
    intervals[0].every === settings.intervalSeconds * 1000 &&
    (intervals[0].offset ?? 0) === 0 &&
    (current.spec.calendars ?? []).length === 0 &&
    current.action.workflowType === action.workflowType &&
    current.action.taskQueue === action.taskQueue &&
    current.policies.overlap === ScheduleOverlapPolicy.SKIP &&
    isDeepStrictEqual(current.action.args, action.args)
  );
}

/**
 * Creates the maintenance schedule, or brings an existing one to this configuration (interval, grace, task queue).
 * Safe for many workers starting at once: a lost create race finds the schedule, and every worker of one
 * configuration converges on the same definition. Returns what it did.
 */
export async function ensureMaintenanceSchedule(
  client: ScheduleClient,
  settings: MaintenanceScheduleSettings,
): Promise<'created' | 'updated' | 'unchanged'> {
  const scheduleId = maintenanceScheduleId(settings.taskQueue);
  // A run never overlaps the previous one: a slow run makes the next tick skip, never pile up.
  const policies = { overlap: ScheduleOverlapPolicy.SKIP };
  try {
    await client.create({ scheduleId, ...desired(settings), policies });
    return 'created';
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
  }
  const handle = client.getHandle(scheduleId);
  if (matches(await handle.describe(), settings)) return 'unchanged';
  await handle.update<typeof maintenanceWorkflow>((previous) => ({
    ...previous,
    ...desired(settings),
    policies: { ...previous.policies, ...policies },
  }));
  return 'updated';
}
