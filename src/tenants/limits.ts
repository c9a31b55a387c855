import type { TenantPolicy } from './tenants';

/** What an owner has enqueued: its other batches past their limits check that have not left finalizing. */
export interface Enqueued {
  batches: number;
  requests: number;
  /** Estimated prompt tokens. */
  tokens: number;
}

/** What a batch adds to its owner's queue. */
export interface BatchNeed {
  requests: number;
  /** Estimated prompt tokens. */
  tokens: number;
}

/** A limit a batch would pass, with OpenAI's code for it. */
export interface LimitError {
  code: 'batch_limit_exceeded' | 'request_limit_exceeded' | 'token_limit_exceeded';
  message: string;
}

const n = (v: number): string => v.toLocaleString('en-US');

/** The owner's limits this batch would pass if admitted beside what is `enqueued` (none: it fits). */
export function limitErrors(owner: string, policy: TenantPolicy, enqueued: Enqueued, need: BatchNeed): LimitError[] {
  const errors: LimitError[] = [];
  const { maxActiveBatches: batches, maxEnqueuedRequests: requests, maxEnqueuedTokens: tokens } = policy;
  if (batches !== undefined && enqueued.batches + 1 > batches) {
    errors.push({
      code: 'batch_limit_exceeded',
      message: `Active batch limit reached for ${owner}: ${n(enqueued.batches)} of ${n(batches)} batches active.`,
    });
  }
  if (requests !== undefined && enqueued.requests + need.requests > requests) {
    errors.push({
      code: 'request_limit_exceeded',
      message:
        `Enqueued request limit reached for ${owner}: ${n(enqueued.requests)} of ${n(requests)} requests enqueued; ` +
        `this batch has ${n(need.requests)}.`,
    });
  }
  if (tokens !== undefined && enqueued.tokens + need.tokens > tokens) {
    errors.push({
      code: 'token_limit_exceeded',
      message:
        `Enqueued token limit reached for ${owner}: ${n(enqueued.tokens)} of ${n(tokens)} tokens enqueued; ` +
        `this batch needs ${n(need.tokens)}.`,
    });
  }
  return errors;
}

/** True when the policy limits anything (no need to look at what is enqueued otherwise). */
export const hasLimits = (p: TenantPolicy): boolean =>
  p.maxActiveBatches !== undefined || p.maxEnqueuedRequests !== undefined || p.maxEnqueuedTokens !== undefined;
