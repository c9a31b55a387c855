import { Client } from 'pg';
import { errorReason, redactUrl } from '../../src/storage/postgres';

/**
 * Which metadata store the suite runs against. Default: SQLite in each stack's DATA_DIR (no extra env).
 * With TEST_DATABASE=postgres every stack gets a fresh database on the server at TEST_POSTGRES_URL.
 */
export async function testDatabaseEnv(): Promise<Record<string, string>> {
  if (process.env.TEST_DATABASE !== 'postgres') return {};
  return { DATABASE_URL: await createTestDatabase() };
}

/** The server test databases are created on, through its maintenance database. */
const serverUrl = (): string => process.env.TEST_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

/** Test databases are named bt_<pid of the jest run>_<random>, so a later run can tell whose they are. */
const TEST_DATABASE_NAME = /^bt_(\d+)_[a-z0-9]+$/;

/** The pid of the jest run that created a test database, or undefined for any other database. */
const creatorPid = (name: string): number | undefined => {
  const match = TEST_DATABASE_NAME.exec(name);
  return match ? Number(match[1]) : undefined;
};

async function onServer<T>(fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: serverUrl() });
  try {
    await client.connect();
    return await fn(client);
  } catch (err) {
    throw new Error(`test PostgreSQL at TEST_POSTGRES_URL=${redactUrl(serverUrl())}: ${errorReason(err)}`);
  } finally {
    await client.end();
  }
}

/** Creates an empty database and returns its URL. */
export async function createTestDatabase(): Promise<string> {
  const run = process.env.TEST_RUN_PID ?? String(process.pid);
  const name = `bt_${run}_${Math.random().toString(36).slice(2, 10)}`;
  await onServer((c) => c.query(`CREATE DATABASE "${name}"`));
  const url = new URL(serverUrl());
  url.pathname = `/${name}`;
  return url.toString();
}

/** Drops a database createTestDatabase made, even if connections remain; any other URL is left alone. */
export async function dropTestDatabase(url: string | undefined): Promise<void> {
  const name = url ? new URL(url).pathname.slice(1) : '';
  if (creatorPid(name) === undefined) return;
  await onServer((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
}

/**
 * Global setup: records the run's pid for database names, and drops test databases of runs that no longer live
 * (killed or crashed before their teardown). Live runs keep theirs. Errors count only when the run is on PostgreSQL.
 */
export async function prepareTestDatabases(): Promise<void> {
  process.env.TEST_RUN_PID = String(process.pid);
  try {
    await onServer(async (c) => {
      const { rows } = await c.query<{ datname: string }>('SELECT datname FROM pg_database');
      for (const { datname } of rows) {
        const pid = creatorPid(datname);
        if (pid !== undefined && !alive(pid)) await c.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
      }
    });
  } catch (err) {
    if (process.env.TEST_DATABASE === 'postgres') throw err;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
