import type { Client } from '@temporalio/client';
import { maintenanceScheduleId } from '../../src/temporal/maintenance-schedule';
import type { MaintenanceResult } from '../../workflows';

/** Polls `read` until `done` holds for its value; throws with the last value after `timeoutMs`. */
export async function pollUntil<T>(read: () => Promise<T>, done: (v: T) => boolean, timeoutMs = 20000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`condition not reached in time; last: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Triggers the task queue's maintenance schedule now and waits for that run's result. */
export async function runMaintenance(temporal: Client, taskQueue: string): Promise<MaintenanceResult> {
  const schedule = temporal.schedule.getHandle(maintenanceScheduleId(taskQueue));
  const taken = (await schedule.describe()).info.numActionsTaken;
  await schedule.trigger();
  const { info } = await pollUntil(
    () => schedule.describe(),
    (d) => d.info.numActionsTaken > taken,
  );
  const latest = info.recentActions.reduce((a, b) => (b.takenAt > a.takenAt ? b : a));
  return temporal.workflow.getHandle(latest.action.workflow.workflowId).result();
}

/** The value of an unlabelled series on the stack's /metrics (NaN when absent). */
export async function metricValue(baseURL: string, name: string): Promise<number> {
  const text = await (await fetch(new URL('/metrics', baseURL))).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return Number(line?.split(' ')[1] ?? NaN);
}
