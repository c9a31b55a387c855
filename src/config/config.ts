import { readFileSync } from 'node:fs';
import { z } from 'zod';

const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max);

/** The longest owner name: owners are stored on every row and put in the BatchOwner search attribute. */
const MAX_OWNER_LENGTH = 128;

/**
 * `key:owner` (split at the last colon, both sides trimmed and non-empty, the owner at most 128 characters), or
 * undefined when it is not one.
 */
function keyOwner(pair: string): [string, string] | undefined {
  const at = pair.lastIndexOf(':');
  const key = pair.slice(0, at).trim();
  const owner = pair.slice(at + 1).trim();
  return at > 0 && key && owner && owner.length <= MAX_OWNER_LENGTH ? [key, owner] : undefined;
}

const apiKeys = z
  .string()
  .optional()
  .transform((raw, ctx) => {
    if (!raw || !raw.trim()) return undefined;
    const map = new Map<string, string>();
    for (const pair of raw.split(',')) {
      const parsed = keyOwner(pair);
      if (!parsed) {
        ctx.addIssue({
          code: 'custom',
          message: `expected key:owner pairs separated by commas (owners at most ${MAX_OWNER_LENGTH} characters)`,
        });
        return z.NEVER;
      }
      map.set(...parsed);
    }
    return map;
  });

/** The environment this service reads, with defaults (README, Configuration). */
export const configSchema = z.object({
  PORT: int(0, 65535).default(8000),
  HOST: z.string().min(1).default('127.0.0.1'),
  DATA_DIR: z.string().min(1).default('./data'),
  DATABASE_URL: z
    .string()
    .regex(/^(postgres(ql)?|sqlite):\/\//, 'expected postgres://... or sqlite://path')
    .optional(),
  /** PostgreSQL connections per process (API or worker); unused with SQLite. */
  DATABASE_POOL_SIZE: int(1, 1000).default(10),
  /** Blob storage: unset (files under DATA_DIR/blobs) or s3://bucket/prefix. */
  BLOB_URL: z
    .string()
    .regex(/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?$/, 'expected s3://bucket or s3://bucket/prefix')
    .optional(),
  /** An S3-compatible endpoint (MinIO, Ceph, ...); unset for AWS. Credentials come from the usual AWS variables. */
  S3_ENDPOINT: z.url().optional(),
  S3_FORCE_PATH_STYLE: z.enum(['true', 'false']).default('false'),
  AWS_REGION: z.string().min(1).default('us-east-1'),
  /** Webhooks: end-state events POSTed here, signed with WEBHOOK_SECRET (HMAC-SHA256). */
  WEBHOOK_URL: z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' }).optional(),
  WEBHOOK_SECRET: z.string().min(16, 'use at least 16 characters').optional(),
  /** How long one delivery attempt may take, connect to response. */
  WEBHOOK_TIMEOUT_MS: int(100, 60000).default(10000),
  /** Delay before the first retry of a delivery; it doubles per attempt up to WEBHOOK_RETRY_MAX_MS, for a day. */
  WEBHOOK_RETRY_INITIAL_MS: int(1).default(1000),
  WEBHOOK_RETRY_MAX_MS: int(1).default(3600000),
  /** How often the maintenance schedule runs: it deletes expired files and restarts orphaned batches. */
  RETENTION_INTERVAL_SECONDS: int(1).default(3600),
  /** A batch still validating this long after creation, with no workflow, is taken as orphaned and started. */
  ORPHANED_BATCH_GRACE_SECONDS: int(1).default(60),
  TEMPORAL_ADDRESS: z.string().min(1).optional(),
  /** TLS to Temporal: on with `true`, or as soon as a certificate, CA or API key is set (unless `false`). */
  TEMPORAL_TLS: z.enum(['true', 'false']).optional(),
  /** A client certificate and its key (PEM files) for mutual TLS. */
  TEMPORAL_TLS_CERT_PATH: z.string().min(1).optional(),
  TEMPORAL_TLS_KEY_PATH: z.string().min(1).optional(),
  /** The CA (PEM file) that signed the server's certificate, when it is not a public one. */
  TEMPORAL_TLS_CA_PATH: z.string().min(1).optional(),
  /** The name to check the server's certificate against, when it differs from the address's host. */
  TEMPORAL_TLS_SERVER_NAME: z.string().min(1).optional(),
  /** An API key (Temporal Cloud), sent as a bearer token. */
  TEMPORAL_API_KEY: z.string().min(1).optional(),
  /** How long a namespace this service registers keeps closed workflows (days). */
  TEMPORAL_NAMESPACE_RETENTION_DAYS: int(1, 3650).default(7),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('batches'),
  TEMPORAL_CLI_PATH: z.string().min(1).optional(),
  TEMPORAL_DEV_PORT: int(1, 65535).default(7233),
  TEMPORAL_UI_PORT: int(1, 65535).default(8233),
  UPSTREAM_BASE_URL: z.url().default('https://api.openai.com/v1'),
  UPSTREAM_API_KEY: z.string().min(1).optional(),
  UPSTREAMS_FILE: z.string().min(1).optional(),
  /** Owners' limits (active batches, enqueued requests and tokens) and fair-share weights (YAML; see README). */
  TENANTS_FILE: z.string().min(1).optional(),
  UPSTREAM_CONCURRENCY: int(1, 10000).default(64),
  UPSTREAM_TIMEOUT_MS: int(100).default(600000),
  UPSTREAM_MAX_RETRIES: int(0, 100).default(5),
  UPSTREAM_RETRY_BASE_MS: int(0).default(1000),
  UPSTREAM_RETRY_MAX_MS: int(0).default(60000),
  /** An upstream refusing connections is waited for this long before its requests fail as upstream_unreachable. */
  UPSTREAM_OUTAGE_TOLERANCE_MS: int(0).default(600000),
  COMPLETION_WINDOW_SECONDS: int(1).default(86400),
  CHUNK_SIZE: int(1, 50000).default(2000),
  CHUNK_WINDOW: int(1, 1000).default(8),
  /**
   * A batch is cut into at most this many chunks (neighbouring chunks are joined when CHUNK_SIZE would make more).
   * Each chunk adds about 6 events to the batch's workflow history, so 1,500 keeps it under Temporal's 10,240-event
   * warning without continue-as-new.
   */
  MAX_CHUNKS_PER_BATCH: int(1, 1500).default(1000),
  CHECKPOINT_INTERVAL_MS: int(50).default(1000),
  CHUNK_HEARTBEAT_TIMEOUT_MS: int(1000).default(20000),
  /**
   * How often a running batch's workflow reads its committed counts into the Web UI's current details: every this
   * many seconds for the first ten reads, then ten times as long (each read adds about six history events).
   */
  PROGRESS_REFRESH_SECONDS: int(1).default(60),
  MAX_UPLOAD_BYTES: int(1).default(200 * 1024 * 1024),
  MAX_BATCH_REQUESTS: int(1).default(50000),
  API_RATE_LIMIT_PER_MINUTE: int(1).default(1200),
  /**
   * How old `GET /v1/batches/{id}` of a batch that has not ended may be: reads within this many milliseconds share one
   * read of the store (0: every read goes to the store).
   */
  LIVE_READ_MAX_AGE_MS: int(0, 60000).default(250),
  /** Uploads in progress at once per API process; per owner; and the bytes they may declare together. */
  MAX_CONCURRENT_UPLOADS: int(1).default(64),
  MAX_CONCURRENT_UPLOADS_PER_OWNER: int(1).default(32),
  MAX_UPLOAD_BYTES_IN_FLIGHT: int(1).default(2 * 1024 * 1024 * 1024),
  /** An upload sending fewer bytes a second than this over a whole UPLOAD_RATE_WINDOW_MS is cut off. */
  UPLOAD_MIN_BYTES_PER_SECOND: int(0).default(1024),
  UPLOAD_RATE_WINDOW_MS: int(100).default(30000),
  /** SIGTERM: how long the API waits for requests in flight before it closes their connections. */
  API_SHUTDOWN_GRACE_MS: int(0).default(30000),
  API_KEYS: apiKeys,
  /** A file of `key:owner` lines (# comments and blank lines allowed), merged with API_KEYS. */
  API_KEYS_FILE: z.string().min(1).optional(),
  /** Without keys the API binds only to loopback unless this says otherwise explicitly. */
  ALLOW_UNAUTHENTICATED: z.enum(['true', 'false']).default('false'),
  WORKER_METRICS_PORT: int(1, 65535).optional(),
  /**
   * How far V8 lets a worker's heap grow past what the last full collection kept, in percent (0: V8's own
   * heuristic, which under a high allocation rate lets garbage reach several times the live set).
   */
  WORKER_HEAP_GROWING_PERCENT: int(0, 1000).default(30),
  /**
   * V8's allocation-site pretenuring in a worker process (off by default; see limitPretenuring in
   * src/worker/runtime.ts).
   */
  WORKER_V8_PRETENURING: z.enum(['true', 'false']).default('false'),
  /** `start:worker` runs this many worker processes, splitting every upstream limit between them. */
  WORKER_PROCESSES: int(1, 256).default(1),
  /**
   * TEST ONLY, off by default: activity names (comma-separated) whose first attempt throws a retryable error after its
   * work committed, as a lost completion would. Proves every activity gives the same outcome when run again.
   */
  FAULT_INJECT_AFTER_COMMIT: z
    .string()
    .optional()
    .transform((raw) =>
      raw
        ? raw
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean)
        : [],
    ),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type AppConfig = z.infer<typeof configSchema>;

/** Thrown when the environment does not parse; the message names every bad variable. */
export class ConfigError extends Error {}

/** Parses the environment once; a bad value throws a ConfigError naming the variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const blanksRemoved = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = configSchema.safeParse(blanksRemoved);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const config = parsed.data;
  if (config.API_KEYS_FILE)
    config.API_KEYS = new Map([...readKeysFile(config.API_KEYS_FILE), ...(config.API_KEYS ?? [])]);
  if (!config.API_KEYS && !LOOPBACK.test(config.HOST) && config.ALLOW_UNAUTHENTICATED !== 'true') {
    throw new ConfigError(
      `Invalid configuration:\n  HOST: ${config.HOST} is not loopback and no API_KEYS are set, which would open the API ` +
        'to the network without authentication. Set API_KEYS or API_KEYS_FILE, or ALLOW_UNAUTHENTICATED=true.',
    );
  }
  if (!config.TEMPORAL_TLS_CERT_PATH !== !config.TEMPORAL_TLS_KEY_PATH) {
    throw new ConfigError(
      'Invalid configuration:\n  TEMPORAL_TLS_CERT_PATH / TEMPORAL_TLS_KEY_PATH: set both (a client certificate and its key) or neither.',
    );
  }
  if (config.WEBHOOK_URL && !config.WEBHOOK_SECRET) {
    throw new ConfigError(
      'Invalid configuration:\n  WEBHOOK_SECRET: required when WEBHOOK_URL is set (at least 16 characters), so ' +
        'receivers can verify that deliveries come from this service.',
    );
  }
  return config;
}

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|localhost|::1|\[::1\])$/;

function readKeysFile(path: string): Map<string, string> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`Invalid configuration:\n  API_KEYS_FILE: ${(err as Error).message}`);
  }
  const keys = new Map<string, string>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const parsed = keyOwner(line);
    if (!parsed) {
      throw new ConfigError(
        `Invalid configuration:\n  API_KEYS_FILE: line ${i + 1} is not key:owner (owners at most ${MAX_OWNER_LENGTH} characters)`,
      );
    }
    keys.set(...parsed);
  });
  return keys;
}

/** Nest injection token for the parsed AppConfig. */
export const APP_CONFIG = Symbol('APP_CONFIG');
