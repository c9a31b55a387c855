import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ensureTemporalServer,
  setUpSchemas,
  TemporalServerNode,
  type ClusterDatabases,
  type NodePorts,
  type PostgresTarget,
} from '../../src/temporal/real-server';
import { portFree } from '../../src/temporal/dev-server';
import { dropTestDatabase } from './test-database';

/** A real Temporal cluster on the test PostgreSQL: one or more server nodes sharing two fresh databases. */
export interface TestCluster {
  nodes: TemporalServerNode[];
  /** The first node's frontend (every node's clusterMetadata names it). */
  address: string;
  /** Seconds the first node took from spawn to answering. */
  startSeconds: number;
  close(): Promise<void>;
}

/** The test PostgreSQL server (TEST_POSTGRES_URL, default postgres@127.0.0.1:5432). */
function testPostgres(): { target: PostgresTarget; url: URL } {
  const url = new URL(process.env.TEST_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/postgres');
  return {
    url,
    target: {
      host: url.hostname,
      port: Number(url.port || 5432),
      user: decodeURIComponent(url.username),
      password: decodeURIComponent(url.password) || undefined,
    },
  };
}

/** Ports below 32768: the server keeps membership ports in a smallint column. */
const PORT_RANGE = { from: 20000, to: 32000 };
const taken = new Set<number>();

async function lowFreePort(): Promise<number> {
  for (;;) {
    const port = PORT_RANGE.from + Math.floor(Math.random() * (PORT_RANGE.to - PORT_RANGE.from));
    if (taken.has(port) || !(await portFree('127.0.0.1', port))) continue;
    taken.add(port);
    return port;
  }
}

async function nodePorts(): Promise<NodePorts> {
  const [frontend, history, matching, worker, m1, m2, m3, m4, http] = await Promise.all(
    Array.from({ length: 9 }, () => lowFreePort()),
  );
  return { frontend, history, matching, worker, membership: [m1, m2, m3, m4], http };
}

/**
 * Builds (or reuses) the real server, creates the cluster's databases (named like every test database, so a run
 * killed before its teardown has them dropped by the next), sets up their schemas and starts `count` nodes.
 */
export async function startTestCluster(count = 1): Promise<TestCluster> {
  const binaries = ensureTemporalServer();
  const { target, url } = testPostgres();
  const base = `bt_${process.env.TEST_RUN_PID ?? process.pid}_${Math.random().toString(36).slice(2, 10)}`;
  const dbs: ClusterDatabases = { store: `${base}t`, visibility: `${base}v` };
  setUpSchemas(binaries, target, dbs);
  const dir = mkdtempSync(join(tmpdir(), 'temporal-cluster-'));
  const ports = await Promise.all(Array.from({ length: count }, () => nodePorts()));
  const clusterAddress = `127.0.0.1:${ports[0].frontend}`;
  const nodes = ports.map(
    (p, i) =>
      new TemporalServerNode(binaries, { dir: join(dir, `node${i + 1}`), pg: target, dbs, ports: p, clusterAddress }),
  );
  const started = Date.now();
  await nodes[0].start();
  const startSeconds = (Date.now() - started) / 1000;
  await Promise.all(nodes.slice(1).map((n) => n.start()));
  return {
    nodes,
    address: clusterAddress,
    startSeconds,
    async close() {
      await Promise.all(nodes.map((n) => n.stop('SIGKILL')));
      for (const db of [dbs.store, dbs.visibility]) {
        const dbUrl = new URL(url.toString());
        dbUrl.pathname = `/${db}`;
        await dropTestDatabase(dbUrl.toString());
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
