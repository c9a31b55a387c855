import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { AppConfig } from '../config/config';
import { ConfigError } from '../config/config';

const positiveInt = z.number().int().positive();

const upstreamSchema = z.strictObject({
  name: z.string().min(1),
  base_url: z.url(),
  /** The name of the environment variable that holds this upstream's API key (keys never sit in the file). */
  api_key_env: z.string().min(1).optional(),
  max_concurrency: positiveInt.optional(),
  requests_per_minute: positiveInt.optional(),
  tokens_per_minute: positiveInt.optional(),
  timeout_ms: positiveInt.optional(),
});

const routingFileSchema = z.strictObject({
  upstreams: z.array(upstreamSchema).min(1),
  routes: z.array(z.strictObject({ model: z.string().min(1), upstream: z.string().min(1) })).default([]),
  /** The upstream for models no route matches (and for endpoints whose lines name no model). */
  default: z.string().min(1).optional(),
});

/** One upstream, resolved: key read from the environment, limits filled from the defaults. */
export interface UpstreamSpec {
  name: string;
  baseUrl: string;
  apiKey?: string;
  maxConcurrency: number;
  /**
   * With several worker processes, this process's starting part of `maxConcurrency`; the supervisor moves the
   * parts to where the work is. Unset: the whole of it.
   */
  concurrencyShare?: number;
  requestsPerMinute?: number;
  tokensPerMinute?: number;
  timeoutMs: number;
}

/** Routes, in file order: an exact model name or a `*` pattern, to an upstream name. */
export interface RoutingTable {
  upstreams: UpstreamSpec[];
  routes: { model: string; upstream: string }[];
  default?: string;
}

/** The routing table from UPSTREAMS_FILE (YAML or JSON), or one default route from the UPSTREAM_* variables. */
export function loadRouting(config: AppConfig, env: NodeJS.ProcessEnv = process.env): RoutingTable {
  if (!config.UPSTREAMS_FILE) {
    return {
      upstreams: [
        {
          name: 'default',
          baseUrl: config.UPSTREAM_BASE_URL,
          apiKey: config.UPSTREAM_API_KEY,
          maxConcurrency: config.UPSTREAM_CONCURRENCY,
          timeoutMs: config.UPSTREAM_TIMEOUT_MS,
        },
      ],
      routes: [],
      default: 'default',
    };
  }
  const where = `UPSTREAMS_FILE (${config.UPSTREAMS_FILE})`;
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(config.UPSTREAMS_FILE, 'utf8'));
  } catch (err) {
    throw new ConfigError(`${where}: ${(err as Error).message}`);
  }
  const parsed = routingFileSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`${where} is invalid:\n${lines.join('\n')}`);
  }
  const file = parsed.data;
  const names = new Set(file.upstreams.map((u) => u.name));
  for (const ref of [...file.routes.map((r) => r.upstream), ...(file.default ? [file.default] : [])]) {
    if (!names.has(ref)) throw new ConfigError(`${where}: route names unknown upstream '${ref}'`);
  }
  const upstreams = file.upstreams.map((u) => {
    if (u.api_key_env && !env[u.api_key_env]) {
      throw new ConfigError(`${where}: upstream '${u.name}' reads its key from ${u.api_key_env}, which is not set`);
    }
    return {
      name: u.name,
      baseUrl: u.base_url,
      apiKey: u.api_key_env ? env[u.api_key_env] : undefined,
      maxConcurrency: u.max_concurrency ?? config.UPSTREAM_CONCURRENCY,
      requestsPerMinute: u.requests_per_minute,
      tokensPerMinute: u.tokens_per_minute,
      timeoutMs: u.timeout_ms ?? config.UPSTREAM_TIMEOUT_MS,
    };
  });
  return { upstreams, routes: file.routes, default: file.default };
}

/** One process's part of a whole: `index` of `count` (0-based) gets an equal share, the remainder to the first. */
export function shareOf(total: number, index: number, count: number): number {
  return Math.floor(total / count) + (index < total % count ? 1 : 0);
}

/**
 * The routing table for worker process `index` of `count` (WORKER_PROCESSES). Requests and tokens per minute are
 * split between the processes so that together they keep to the configured limits. Concurrency is shared too, but
 * not fixed: each process starts with its part (`shares`, by upstream name, as the supervisor hands them out, or
 * an equal split) and the supervisor moves the parts to the processes that have work. A limit smaller than the
 * process count cannot be split and is a configuration error.
 */
export function splitRouting(
  table: RoutingTable,
  index: number,
  count: number,
  shares: Record<string, number> = {},
): RoutingTable {
  if (count <= 1) return table;
  for (const u of table.upstreams) {
    const limits = {
      max_concurrency: u.maxConcurrency,
      requests_per_minute: u.requestsPerMinute,
      tokens_per_minute: u.tokensPerMinute,
    };
    for (const [name, value] of Object.entries(limits)) {
      if (value !== undefined && value < count) {
        throw new ConfigError(
          `upstream '${u.name}': ${name} ${value} cannot be split between WORKER_PROCESSES=${count} processes`,
        );
      }
    }
  }
  const part = (v: number | undefined) => (v === undefined ? undefined : shareOf(v, index, count));
  return {
    ...table,
    upstreams: table.upstreams.map((u) => ({
      ...u,
      concurrencyShare: shares[u.name] ?? part(u.maxConcurrency),
      requestsPerMinute: part(u.requestsPerMinute),
      tokensPerMinute: part(u.tokensPerMinute),
    })),
  };
}
