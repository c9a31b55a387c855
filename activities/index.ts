import type { ActivityDeps } from './deps';
import { makeFinalize } from './finalize';
import { makeNotifyWebhook } from './notify-webhook';
import { makeProcessChunk } from './process-chunk';
import { makeReadProgress } from './read-progress';
import { makeTransition } from './transition';
import { makeValidateInput } from './validate-input';

/** The batch activities over injected dependencies; the worker registers the result. */
export function createActivities(deps: ActivityDeps) {
  return {
    validateInput: makeValidateInput(deps),
    transition: makeTransition(deps),
    processChunk: makeProcessChunk(deps),
    finalize: makeFinalize(deps),
    notifyWebhook: makeNotifyWebhook(deps),
    readProgress: makeReadProgress(deps),
  };
}

/** The activity interface the workflow proxies. */
export type BatchActivities = ReturnType<typeof createActivities>;
