/**
 * The batch workflow's steps, as the API that starts a batch passes them in the workflow's input (`steps`). A batch
 * started with them takes its steps from the input, not from patch markers: Temporal upserts its
 * TemporalChangeVersion search attribute with every patch marker, so each marker is two history events and a
 * visibility write that a batch no longer pays. 1: every patch of the batch workflow up to `small-input-steps` (fewer
 * steps, local steps for a small input, the completion window over validation, chunk failures that do not stop the
 * others, live progress).
 *
 * A new workflow change still goes in behind `patched()`: a worker that does not know a change yet may run a batch
 * the API started, and only a marker tells the next worker which way it went. Raise this value to fold patches in
 * only once every worker that may run the API's batches knows them (the release after the one that shipped them);
 * a replay still asks for those markers (batch.workflow.ts shows how), so the histories that hold them replay.
 */
export const BATCH_WORKFLOW_STEPS = 1;
