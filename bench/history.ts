import { Client, Connection } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

/** Epoch ms of the steps of one batch's workflow, read from its Temporal history (server clock, same machine). */
export interface WorkflowTimeline {
  events: number;
  /** Workflow tasks completed, activities scheduled and search attribute upserts: what a batch costs the server. */
  workflowTasks: number;
  activities: number;
  searchAttributeUpserts: number;
  chunkActivities: number;
  /** validateInput completed: the batch is in_progress in the store by then (validation moves it). */
  validated?: number;
  /** The first chunk activity started on a worker (the earliest start: started events are written as attempts end). */
  firstChunkStarted?: number;
  /** The last chunk activity's completion reached the server. */
  lastChunkCompleted?: number;
  finalizeScheduled?: number;
  finalizeStarted?: number;
  /** finalize returned: the batch's end status is in the store by then. */
  finalizeCompleted?: number;
  workflowCompleted?: number;
}

const ms = (e: HistoryEvent): number => {
  const t = e.eventTime;
  return t ? Number(t.seconds ?? 0) * 1000 + Math.round((t.nanos ?? 0) / 1e6) : NaN;
};

/** Reads the batch's workflow history, once its run has ended, and picks out when each step of the batch happened. */
export async function workflowTimeline(address: string, batchId: string): Promise<WorkflowTimeline> {
  const connection = await Connection.connect({ address });
  try {
    const handle = new Client({ connection }).workflow.getHandle(batchId);
    // The batch shows its end status before its workflow ends (finalize writes it, then a workflow task closes the
    // run): wait for the end, so the history is whole.
    await handle.result();
    const history = await handle.fetchHistory();
    return timelineOf(history.events ?? []);
  } finally {
    await connection.close();
  }
}

function timelineOf(events: HistoryEvent[]): WorkflowTimeline {
  // Scheduled event id -> activity type, so started and completed events can be named.
  const typeOf = new Map<number, string>();
  const out: WorkflowTimeline = {
    events: events.length,
    workflowTasks: 0,
    activities: 0,
    searchAttributeUpserts: 0,
    chunkActivities: 0,
  };
  for (const e of events) {
    if (e.workflowTaskCompletedEventAttributes) out.workflowTasks++;
    if (e.upsertWorkflowSearchAttributesEventAttributes) out.searchAttributeUpserts++;
    const scheduled = e.activityTaskScheduledEventAttributes;
    if (scheduled) {
      const type = scheduled.activityType?.name ?? '';
      typeOf.set(Number(e.eventId), type);
      out.activities++;
      if (type === 'processChunk') out.chunkActivities++;
      if (type === 'finalize') out.finalizeScheduled = ms(e);
      continue;
    }
    const started = e.activityTaskStartedEventAttributes;
    if (started) {
      const type = typeOf.get(Number(started.scheduledEventId));
      if (type === 'processChunk') out.firstChunkStarted = Math.min(out.firstChunkStarted ?? Infinity, ms(e));
      if (type === 'finalize') out.finalizeStarted = ms(e);
      continue;
    }
    const completed = e.activityTaskCompletedEventAttributes;
    if (completed) {
      const type = typeOf.get(Number(completed.scheduledEventId));
      if (type === 'validateInput') out.validated = ms(e);
      if (type === 'processChunk') out.lastChunkCompleted = ms(e);
      if (type === 'finalize') out.finalizeCompleted = ms(e);
      continue;
    }
    if (e.workflowExecutionCompletedEventAttributes) out.workflowCompleted = ms(e);
  }
  return out;
}
