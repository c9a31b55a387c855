import { Worker } from '@temporalio/worker';
import { createActivities } from '../../activities';
import { injectFaultsAfterCommit } from '../../activities/fault-injection';
import type { AppConfig } from '../config/config';
import { connectNative } from '../temporal/connection';
import type { Storage } from '../storage/storage';
import type { UpstreamRouter } from '../upstream/upstream-router';
import { activityDeps, type WorkerProcessSetup } from './activity-deps';
import { setUpMaintenance } from './maintenance-setup';
import { installTemporalRuntime } from '../temporal/runtime';
import { limitHeapGrowth, limitPretenuring } from './runtime';
import { registerUpstreamGauges } from './upstream-gauges';
import { defaultWorkflowSource, type WorkflowSource } from './workflow-source';

/** A running batch worker and what it owns. */
export interface BatchWorker {
  worker: Worker;
  router: UpstreamRouter;
  /** Resolves when the worker has stopped (after shutdown() or a fatal error). */
  done: Promise<void>;
  /** Stops polling, lets running chunks checkpoint, then closes connections. */
  shutdown(): Promise<void>;
}

/** Creates and starts a worker on TEMPORAL_TASK_QUEUE; it runs until shutdown(). */
export async function startBatchWorker(
  config: AppConfig,
  storage: Storage,
  source: WorkflowSource = defaultWorkflowSource(),
  processSetup?: WorkerProcessSetup,
): Promise<BatchWorker> {
  if (!config.TEMPORAL_ADDRESS) throw new Error('TEMPORAL_ADDRESS is required to start a worker');
  installTemporalRuntime(config.LOG_LEVEL, 'worker');
  limitHeapGrowth(config.WORKER_HEAP_GROWING_PERCENT);
  limitPretenuring(config.WORKER_V8_PRETENURING === 'true');
  const deps = activityDeps(config, storage, processSetup);
  // A worker killed mid-finalize leaves a temp file behind; its successor removes it.
  await storage.blobs.sweepTemp?.();
  registerUpstreamGauges(deps.router);
  const connection = await connectNative(config);
  const maintenance = await setUpMaintenance(config, storage, connection);
  if (config.FAULT_INJECT_AFTER_COMMIT.length > 0) {
    console.warn(`FAULT_INJECT_AFTER_COMMIT is set (test only): ${config.FAULT_INJECT_AFTER_COMMIT.join(', ')}`);
  }
  const worker = await Worker.create({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    ...source,
    activities: injectFaultsAfterCommit(
      { ...createActivities(deps), ...maintenance },
      config.FAULT_INJECT_AFTER_COMMIT,
    ),
    // Heartbeats carry cancellation back to a chunk; sending them at least every second keeps cancel prompt.
    maxHeartbeatThrottleInterval: '1 second',
    defaultHeartbeatThrottleInterval: '1 second',
    shutdownGraceTime: '10 seconds',
  });
  const done = worker.run().finally(async () => {
    await deps.router.close();
    await deps.webhook?.close();
    await connection.close();
  });
  return {
    worker,
    router: deps.router,
    done,
    async shutdown() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await done;
    },
  };
}
