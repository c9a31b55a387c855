import { join, resolve } from 'node:path';
import { loadConfig } from '../config/config';
import { runUntilSignal } from '../process/lifecycle';
import { connectClient } from './connection';
import { namespaceSettings, prepareNamespace } from './prepare-namespace';
import { ensureTemporalServer, setUpSchemas, TemporalServerNode, TEMPORAL_SERVER_VERSION } from './real-server';

/**
 * `npm run temporal:server`: one node of a real Temporal server (not the CLI's dev server) on PostgreSQL with SQL
 * visibility, for running the service the way production does on one machine. TEMPORAL_SERVER_POSTGRES_URL names the
 * PostgreSQL server (default postgres://postgres@127.0.0.1:5432); the databases `temporal` and `temporal_visibility`
 * are created or brought up to date. The frontend listens on TEMPORAL_DEV_PORT (7233); point the API and workers at
 * it with TEMPORAL_ADDRESS.
 */
async function main(): Promise<void> {
  const config = loadConfig();
  const pgUrl = new URL(process.env.TEMPORAL_SERVER_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres');
  const pg = {
    host: pgUrl.hostname,
    port: Number(pgUrl.port || 5432),
    user: decodeURIComponent(pgUrl.username) || 'postgres',
    password: decodeURIComponent(pgUrl.password) || undefined,
  };
  const binaries = ensureTemporalServer();
  const dbs = { store: 'temporal', visibility: 'temporal_visibility' };
  setUpSchemas(binaries, pg, dbs);
  const base = config.TEMPORAL_DEV_PORT;
  const node = new TemporalServerNode(binaries, {
    dir: resolve(join(config.DATA_DIR, 'temporal-server')),
    pg,
    dbs,
    // The frontend on TEMPORAL_DEV_PORT, the other services beside it (membership ports stay below 32768).
    ports: {
      frontend: base,
      history: base + 1,
      matching: base + 2,
      worker: base + 6,
      membership: [base - 300, base - 299, base - 298, base - 294],
      http: base + 10,
    },
    clusterAddress: `127.0.0.1:${base}`,
  });
  await node.start();
  const address = node.address;
  const connection = await connectClient({ ...config, TEMPORAL_ADDRESS: address });
  await prepareNamespace(connection, namespaceSettings(config));
  await connection.close();
  console.log(
    `Temporal server ${TEMPORAL_SERVER_VERSION} on ${address} (PostgreSQL ${pg.host}:${pg.port}, databases ` +
      `${dbs.store} and ${dbs.visibility}); run the service with TEMPORAL_ADDRESS=${address}`,
  );
  await runUntilSignal([() => node.stop()]);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
