import { Context, log } from '@temporalio/activity';

/** The error an injected fault throws: retryable, as a lost completion or a worker killed after the commit is. */
export class InjectedFaultError extends Error {
  constructor(activity: string) {
    super(`FAULT_INJECT_AFTER_COMMIT: ${activity} threw after its work committed (test-only fault injection)`);
    this.name = 'InjectedFaultError';
  }
}

type Activity = (...args: never[]) => Promise<unknown>;

/**
 * TEST ONLY (FAULT_INJECT_AFTER_COMMIT, off by default). Wraps the named activities so that the first attempt of each
 * one does its work and then throws a retryable error, as if its completion had been lost: Temporal runs it again
 * after its work committed. Every activity must give the same outcome when that happens.
 */
export function injectFaultsAfterCommit<T extends Record<string, Activity>>(
  activities: T,
  names: readonly string[],
): T {
  if (names.length === 0) return activities;
  const wrapped: Record<string, Activity> = { ...activities };
  for (const name of names) {
    const activity = activities[name];
    if (!activity) throw new Error(`FAULT_INJECT_AFTER_COMMIT names an unknown activity: ${name}`);
    wrapped[name] = async (...args: never[]) => {
      const result = await activity(...args);
      if (Context.current().info.attempt === 1) {
        log.warn('injected fault after commit', { activity: name });
        throw new InjectedFaultError(name);
      }
      return result;
    };
  }
  return wrapped as T;
}
