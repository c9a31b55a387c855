/**
 * The batch workflow's steps, as the API that starts a batch passes them in the workflow's input (`steps`). A batch
 * started with them takes its steps from the input, not from patch markers: Temporal upserts its
 * TemporalChangeVersion search attribute with every patch marker, so each marker is two history events and a
 * visibility write that a batch no longer pays. 1: fewer steps (validation and finalize move the batch on themselves),
 * local steps for a small input, the completion window over validation, chunk failures that do not stop the others,
 * live progress (every patch of the batch workflow up to `small-input-steps`).
 *
 * Only a workflow code change that a batch's history must record is a new value here; batches started with an older
 * value (or none) keep replaying through the patches they recorded.
 */
export const BATCH_WORKFLOW_STEPS = 1;
