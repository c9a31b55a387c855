import Sqlite from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Kysely, Migrator, SqliteDialect, type Migration, type MigrationProvider } from 'kysely';
import type { AppConfig } from '../config/config';
import { initialMigration } from './migrations/001-initial';
import type { Database } from './schema';

/** Which SQL engine backs the store. */
export type SqlDialect = 'sqlite' | 'postgres';

/** An open metadata database. */
export interface Db {
  kysely: Kysely<Database>;
  dialect: SqlDialect;
}

/** Versioned migrations, in order; they run at start. */
function migrations(dialect: SqlDialect): MigrationProvider {
  const all: Record<string, Migration> = { '001-initial': initialMigration(dialect) };
  return { getMigrations: async () => all };
}

/** The SQLite file path for the configuration (DATABASE_URL=sqlite://path, else DATA_DIR/batches.db). */
export function sqlitePath(config: Pick<AppConfig, 'DATA_DIR' | 'DATABASE_URL'>): string {
  if (config.DATABASE_URL?.startsWith('sqlite://')) return config.DATABASE_URL.slice('sqlite://'.length);
  return join(config.DATA_DIR, 'batches.db');
}

/** Opens the metadata store and brings its schema up to date. */
export async function openDatabase(config: Pick<AppConfig, 'DATA_DIR' | 'DATABASE_URL'>): Promise<Db> {
  if (config.DATABASE_URL && /^postgres(ql)?:/.test(config.DATABASE_URL)) {
    throw new Error('DATABASE_URL=postgres://... is not supported yet; unset it to use SQLite in DATA_DIR.');
  }
  const path = sqlitePath(config);
  mkdirSync(dirname(path), { recursive: true });
  const sqlite = new Sqlite(path);
  // The API and worker processes share the file: WAL lets readers run beside the writer; the busy
  // timeout makes a writer wait for the lock instead of failing at once.
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('busy_timeout = 10000');
  sqlite.pragma('synchronous = NORMAL');
  const kysely = new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) });
  const db: Db = { kysely, dialect: 'sqlite' };
  await migrate(db);
  return db;
}

/** Distinct SQL texts kept prepared; queries bind parameters, so the set of texts is small. */
const STATEMENT_CACHE_SIZE = 500;

/**
 * Kysely prepares every query anew; preparing is a large part of a simple read's cost. Prepared statements are
 * reusable, so they are kept per SQL text.
 */
function withStatementCache(sqlite: Sqlite.Database): Sqlite.Database {
  const cache = new Map<string, Sqlite.Statement>();
  const prepare = (source: string): Sqlite.Statement => {
    let statement = cache.get(source);
    if (!statement) {
      if (cache.size >= STATEMENT_CACHE_SIZE) cache.clear();
      statement = sqlite.prepare(source);
      cache.set(source, statement);
    }
    return statement;
  };
  return new Proxy(sqlite, {
    get: (target, prop, receiver) => (prop === 'prepare' ? prepare : Reflect.get(target, prop, receiver)),
  });
}

async function migrate(db: Db): Promise<void> {
  const migrator = new Migrator({ db: db.kysely, provider: migrations(db.dialect) });
  // SQLite has no migration lock: an API and a worker starting together on a fresh file can both try the same
  // migration. The loser fails on an existing table; on a second look every migration is applied.
  for (let attempt = 1; ; attempt++) {
    const { error } = await migrator.migrateToLatest();
    if (!error) return;
    if (attempt >= 5) throw error instanceof Error ? error : new Error(String(error));
    await new Promise((r) => setTimeout(r, 100 * attempt));
  }
}
