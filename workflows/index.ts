// The one file the worker loads: named re-exports only.
export { batchWorkflow, cancelSignal, progressQuery } from './batch.workflow';
export type { BatchProgress, BatchWorkflowInput } from './batch.workflow';
export { maintenanceWorkflow } from './maintenance.workflow';
export type { MaintenanceResult, MaintenanceWorkflowInput } from './maintenance.workflow';
