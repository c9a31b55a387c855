import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { frontendVersion } from './connection';
import { portFree } from './dev-server';
import { isExecutable } from './temporal-cli';

/**
 * The Temporal server version this service runs on and tests against (temporal-docker/ pins the same). Both binaries
 * build from the Go module registry with `go install`.
 */
export const TEMPORAL_SERVER_VERSION = 'v1.29.1';
const SERVER_MODULE = `go.temporal.io/server/cmd/server@${TEMPORAL_SERVER_VERSION}`;
const SQL_TOOL_MODULE = `go.temporal.io/server/cmd/tools/sql@${TEMPORAL_SERVER_VERSION}`;

/** Where the server binary (`server`) and temporal-sql-tool (`sql`) are, and the module's PostgreSQL schemas. */
export interface TemporalServerBinaries {
  server: string;
  sqlTool: string;
  /** `schema/postgresql/v12` of the server module (versioned schema directories). */
  schemaDir: string;
}

const goEnv = (name: string): string => execFileSync('go', ['env', name], { encoding: 'utf8' }).trim();

/**
 * Finds the server binaries, or builds them with `go install` (about two minutes the first time, with a warm module
 * cache); an existing build is reused. TEMPORAL_SERVER_BIN_DIR names a directory holding `server` and `sql`.
 */
export function ensureTemporalServer(
  log: (line: string) => void = console.log,
  env: NodeJS.ProcessEnv = process.env,
): TemporalServerBinaries {
  const dir = env.TEMPORAL_SERVER_BIN_DIR ?? join(goEnv('GOPATH'), `temporal-server-${TEMPORAL_SERVER_VERSION}`);
  const binaries = {
    server: join(dir, 'server'),
    sqlTool: join(dir, 'sql'),
    schemaDir: join(goEnv('GOMODCACHE'), `go.temporal.io/server@${TEMPORAL_SERVER_VERSION}`, 'schema/postgresql/v12'),
  };
  if (isExecutable(binaries.server) && isExecutable(binaries.sqlTool)) return binaries;
  log(
    `Building the Temporal server ${TEMPORAL_SERVER_VERSION} and temporal-sql-tool (go install); about two minutes...`,
  );
  const started = Date.now();
  mkdirSync(dir, { recursive: true });
  const result = spawnSync('go', ['install', SERVER_MODULE, SQL_TOOL_MODULE], {
    stdio: 'inherit',
    env: { ...process.env, GOBIN: dir },
  });
  if (result.status !== 0)
    throw new Error(`go install ${SERVER_MODULE} ${SQL_TOOL_MODULE} failed (exit ${result.status})`);
  log(`Temporal server built in ${Math.round((Date.now() - started) / 1000)} s: ${dir}`);
  return binaries;
}

/** A PostgreSQL server the cluster keeps its state in. */
export interface PostgresTarget {
  host: string;
  port: number;
  user: string;
  password?: string;
}

/** The cluster's two databases: the default store (histories, tasks) and SQL visibility (search attributes). */
export interface ClusterDatabases {
  store: string;
  visibility: string;
}

/**
 * Creates the two databases if missing and brings their schemas to the server's version with temporal-sql-tool
 * (idempotent: a second run finds them up to date).
 */
export function setUpSchemas(binaries: TemporalServerBinaries, pg: PostgresTarget, dbs: ClusterDatabases): void {
  const base = ['--plugin', 'postgres12', '--ep', pg.host, '-p', String(pg.port), '-u', pg.user];
  if (pg.password) base.push('--pw', pg.password);
  for (const [db, dir] of [
    [dbs.store, 'temporal'],
    [dbs.visibility, 'visibility'],
  ] as const) {
    const run = (args: string[]) => execFileSync(binaries.sqlTool, [...base, '--db', db, ...args], { stdio: 'pipe' });
    try {
      run(['create-database']);
    } catch (err) {
      // Already there: the schema steps below bring it up to date.
      if (!String((err as { stderr?: Buffer }).stderr ?? err).includes('already exists')) throw err;
    }
    run(['setup-schema', '-v', '0.0']);
    run(['update-schema', '-d', join(binaries.schemaDir, dir, 'versioned')]);
  }
}

/** One server node's ports; every node of a cluster gets its own. */
export interface NodePorts {
  frontend: number;
  history: number;
  matching: number;
  worker: number;
  /** Membership ports, one per service. */
  membership: [number, number, number, number];
  http: number;
}

/** Everything a node's config file is written from. */
export interface NodeSettings {
  /** The node's directory: its config file and log. */
  dir: string;
  pg: PostgresTarget;
  dbs: ClusterDatabases;
  ports: NodePorts;
  /** The frontend address every node of the cluster names (clusterMetadata.rpcAddress): the same on all of them. */
  clusterAddress: string;
  numHistoryShards?: number;
}

/**
 * The server's dynamic configuration: eager activity dispatch, so the activity a workflow task schedules (validate, a
 * chunk, finalize) goes back to the worker in that task's completion instead of through the task queue; a matching
 * round trip less per activity (about a tenth of the server's CPU per small batch, bench B7).
 */
const DYNAMIC_CONFIG = `system.enableActivityEagerExecution:
  - value: true
`;

/** Writes `<dir>/config/node.yaml`, the server's configuration for one node, and its dynamic configuration. */
export function writeNodeConfig(s: NodeSettings): void {
  const sql = (db: string, maxConns: number) => `
      sql:
        pluginName: postgres12
        databaseName: ${db}
        connectAddr: "${s.pg.host}:${s.pg.port}"
        connectProtocol: tcp
        user: ${s.pg.user}
        password: "${s.pg.password ?? ''}"
        maxConns: ${maxConns}
        maxIdleConns: ${maxConns}
        maxConnLifetime: 1h`;
  const service = (grpc: number, membership: number, http?: number) => `
    rpc:
      grpcPort: ${grpc}
      membershipPort: ${membership}
      bindOnIP: 127.0.0.1${http ? `\n      httpPort: ${http}` : ''}`;
  const [fm, hm, mm, wm] = s.ports.membership;
  const yaml = `# Written by the Batch API's real-server launcher: one node of a Temporal cluster on PostgreSQL.
log:
  stdout: true
  level: warn
persistence:
  defaultStore: default
  visibilityStore: visibility
  numHistoryShards: ${s.numHistoryShards ?? 4}
  datastores:
    default:${sql(s.dbs.store, 20)}
    visibility:${sql(s.dbs.visibility, 10)}
global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: 127.0.0.1
services:
  frontend:${service(s.ports.frontend, fm, s.ports.http)}
  history:${service(s.ports.history, hm)}
  matching:${service(s.ports.matching, mm)}
  worker:${service(s.ports.worker, wm)}
clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: active
  currentClusterName: active
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: frontend
      rpcAddress: ${s.clusterAddress}
dcRedirectionPolicy:
  policy: noop
dynamicConfigClient:
  filepath: ${JSON.stringify(join(s.dir, 'config', 'dynamic.yaml'))}
  pollInterval: 60s
`;
  mkdirSync(join(s.dir, 'config'), { recursive: true });
  writeFileSync(join(s.dir, 'config', 'node.yaml'), yaml);
  writeFileSync(join(s.dir, 'config', 'dynamic.yaml'), DYNAMIC_CONFIG);
}

/** One running server node (all four services in one process). */
export class TemporalServerNode {
  private output = '';
  private child: ChildProcess | undefined;

  constructor(
    private readonly binaries: TemporalServerBinaries,
    readonly settings: NodeSettings,
  ) {}

  /** The node's frontend address. */
  get address(): string {
    return `127.0.0.1:${this.settings.ports.frontend}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Writes the config, starts the process and waits until its frontend answers (at most `timeoutMs`). */
  async start(timeoutMs = 120_000): Promise<void> {
    // Another server on these ports would answer the readiness check below in this node's place.
    const { frontend, history, matching, worker, membership, http } = this.settings.ports;
    for (const port of [frontend, history, matching, worker, http, ...membership]) {
      if (!(await portFree('127.0.0.1', port))) throw new Error(`port ${port} is taken: cannot start a Temporal node`);
    }
    writeNodeConfig(this.settings);
    const child = spawn(
      this.binaries.server,
      ['--root', this.settings.dir, '--config', 'config', '--env', 'node', '--allow-no-auth', 'start'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child = child;
    const keep = (d: Buffer) => (this.output = (this.output + d.toString()).slice(-8000));
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`Temporal server exited with ${child.exitCode ?? child.signalCode}:\n${this.output}`);
      }
      if ((await frontendVersion(this.address)) !== undefined) return;
      await new Promise((r) => setTimeout(r, 500));
    }
    throw new Error(`Temporal server did not answer on ${this.address} within ${timeoutMs} ms:\n${this.output}`);
  }

  /** What the node printed last. */
  log(): string {
    return this.output;
  }

  /** Stops the node with `signal` (SIGKILL to simulate a crash) and waits until it has exited. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 20_000): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
}
