import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../config/config';
import { Tenants } from './tenants';

const limit = z.number().int().min(0);

/** One owner's limits and weight; every field optional (no limit, weight 1). */
const tenantSchema = z.strictObject({
  /** Batches validating (once past their limits check), in_progress or finalizing at once. */
  max_active_batches: limit.optional(),
  /** Requests of those batches together, this batch's included. */
  max_enqueued_requests: limit.optional(),
  /** Estimated prompt tokens of those batches together, this batch's included. */
  max_enqueued_tokens: limit.optional(),
  /** The owner's share of each upstream's concurrency against other owners with waiting work. */
  weight: z.number().positive().max(1000).optional(),
});

/** TENANTS_FILE: owners (as API_KEYS names them) to their limits, and `default` for owners not listed. */
const tenantsFileSchema = z.strictObject({
  tenants: z.record(z.string().min(1).max(128), tenantSchema).default({}),
  default: tenantSchema.optional(),
});

/** One owner's entry in the tenants file. */
export type TenantEntry = z.infer<typeof tenantSchema>;
/** The tenants file as parsed. */
export type TenantsFile = z.infer<typeof tenantsFileSchema>;

/** Parses the tenants file's text (YAML or JSON); a bad file throws a ConfigError naming each bad field. */
export function parseTenants(text: string, where = 'TENANTS_FILE'): Tenants {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`${where}: ${(err as Error).message}`);
  }
  // An empty file limits nobody.
  const parsed = tenantsFileSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(top level)'}: ${i.message}`);
    throw new ConfigError(`${where} is invalid:\n${lines.join('\n')}`);
  }
  return new Tenants(parsed.data);
}

/** The tenants from TENANTS_FILE, or no limits and every weight 1 without one. Read once, at start. */
export function loadTenants(path: string | undefined): Tenants {
  if (!path) return new Tenants({ tenants: {} });
  const where = `TENANTS_FILE (${path})`;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`${where}: ${(err as Error).message}`);
  }
  return parseTenants(text, where);
}
