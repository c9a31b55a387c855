import type { TenantEntry, TenantsFile } from './tenants-file';

/** One owner's limits (undefined: none) and weight. */
export interface TenantPolicy {
  maxActiveBatches?: number;
  maxEnqueuedRequests?: number;
  maxEnqueuedTokens?: number;
  weight: number;
}

/**
 * Each owner's limits and fair-share weight, from the tenants file. A listed owner has exactly its own entry; an
 * owner not listed has the `default` entry; without either, no limits and weight 1.
 */
export class Tenants {
  private readonly policies: Map<string, TenantPolicy>;
  private readonly fallback: TenantPolicy;

  constructor(file: TenantsFile) {
    this.policies = new Map(Object.entries(file.tenants).map(([owner, entry]) => [owner, policyOf(entry)]));
    this.fallback = policyOf(file.default ?? {});
  }

  /** The owner's limits and weight. */
  policyOf(owner: string): TenantPolicy {
    return this.policies.get(owner) ?? this.fallback;
  }

  /** The owner's fair-share weight. */
  weightOf(owner: string): number {
    return this.policyOf(owner).weight;
  }
}

const policyOf = (entry: TenantEntry): TenantPolicy => ({
  maxActiveBatches: entry.max_active_batches,
  maxEnqueuedRequests: entry.max_enqueued_requests,
  maxEnqueuedTokens: entry.max_enqueued_tokens,
  weight: entry.weight ?? 1,
});
