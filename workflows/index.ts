// The one file the worker loads: named re-exports only.
export { batchWorkflow, cancelSignal, progressQuery } from './batch.workflow';
export type { BatchProgress, BatchWorkflowInput, BatchWorkflowResult } from './batch.workflow';
export { repairBatchWorkflow } from './repair.workflow';
export type { RepairBatchWorkflowInput } from './repair.workflow';
export { maintenanceWorkflow } from './maintenance.workflow';
export type { MaintenanceResult, MaintenanceWorkflowInput } from './maintenance.workflow';
