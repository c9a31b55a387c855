import type { WorkerOptions } from '@temporalio/worker';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Where the workflow code comes from: a prebuilt bundle or the workflows/ entry file (bundled at start). */
export type WorkflowSource = Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'>;

/** The workflows/ entry file beside this build (dist/workflows when compiled). */
export const WORKFLOWS_PATH = require.resolve('../../workflows');
/** The bundle `npm run build` writes next to the compiled workflows. */
export const WORKFLOW_BUNDLE_PATH = join(__dirname, '..', '..', 'workflow-bundle.js');

/** The prebuilt bundle when it is newer than the workflow code, else the source (bundled by the worker). */
export function defaultWorkflowSource(): WorkflowSource {
  if (existsSync(WORKFLOW_BUNDLE_PATH) && statSync(WORKFLOW_BUNDLE_PATH).mtimeMs >= statSync(WORKFLOWS_PATH).mtimeMs) {
    return { workflowBundle: { codePath: WORKFLOW_BUNDLE_PATH } };
  }
  return { workflowsPath: WORKFLOWS_PATH };
}
