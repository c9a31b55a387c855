import { bundleWorkflowCode } from '@temporalio/worker';
import { writeFileSync } from 'node:fs';
import { WORKFLOW_BUNDLE_PATH, WORKFLOWS_PATH } from './workflow-source';

// Run by `npm run build`: bundles the workflow code once, so a worker loads a file instead of running webpack at
// every start (faster start, and no webpack heap in the worker's memory).
async function main(): Promise<void> {
  const noop = () => undefined;
  const logger = { trace: noop, debug: noop, info: noop, log: noop, warn: console.warn, error: console.error };
  const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger });
  writeFileSync(WORKFLOW_BUNDLE_PATH, code);
  console.log(`workflow bundle: ${WORKFLOW_BUNDLE_PATH} (${(code.length / 1024).toFixed(0)} KiB)`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
