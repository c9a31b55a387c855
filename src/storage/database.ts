import Sqlite from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Kysely, Migrator, sql, SqliteDialect, type Migration, type MigrationProvider } from 'kysely';
import type { AppConfig } from '../config/config';
import { initialMigration } from './migrations/001-initial';
import { chunkAttemptMigration } from './migrations/002-chunk-attempt';
import { retentionIndexesMigration } from './migrations/003-retention-indexes';
import { fencingAndHeldFilesMigration } from './migrations/004-fencing-and-held-files';
import { resultLayoutsMigration } from './migrations/005-result-layouts';
import { ownerAdmissionMigration } from './migrations/006-owner-admission';
import { errorReason, isPostgresUrl, NulCharacterPlugin, postgresDialect, redactUrl } from './postgres';
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
  const all: Record<string, Migration> = {
    '001-initial': initialMigration(dialect),
    '002-chunk-attempt': chunkAttemptMigration,
    '003-retention-indexes': retentionIndexesMigration,
    '004-fencing-and-held-files': fencingAndHeldFilesMigration,
    '005-result-layouts': resultLayoutsMigration,
    '006-owner-admission': ownerAdmissionMigration,
  };
  return { getMigrations: async () => all };
}

/** What opening the store reads from the configuration. */
export type DatabaseConfig = Pick<AppConfig, 'DATA_DIR' | 'DATABASE_URL'> &
  Partial<Pick<AppConfig, 'DATABASE_POOL_SIZE'>>;

/** The SQLite file path for the configuration (DATABASE_URL=sqlite://path, else DATA_DIR/batches.db). */
export function sqlitePath(config: Pick<AppConfig, 'DATA_DIR' | 'DATABASE_URL'>): string {
  if (config.DATABASE_URL?.startsWith('sqlite://')) return config.DATABASE_URL.slice('sqlite://'.length);
  return join(config.DATA_DIR, 'batches.db');
}

/** Opens the metadata store (PostgreSQL for a postgres:// DATABASE_URL, else SQLite) and brings its schema up to date. */
export async function openDatabase(config: DatabaseConfig): Promise<Db> {
  if (isPostgresUrl(config.DATABASE_URL)) return openPostgres(config.DATABASE_URL, config.DATABASE_POOL_SIZE ?? 10);
  return openSqlite(sqlitePath(config));
}

async function openPostgres(url: string, poolSize: number): Promise<Db> {
  const kysely = new Kysely<Database>({ dialect: postgresDialect(url, poolSize), plugins: [new NulCharacterPlugin()] });
  const db: Db = { kysely, dialect: 'postgres' };
  try {
    if (await migratedByNewerVersion(db)) return db;
    // The migrator holds an advisory lock on PostgreSQL, so an API and a worker starting together take turns.
    const { error } = await new Migrator({ db: db.kysely, provider: migrations('postgres') }).migrateToLatest();
    if (error) throw error;
  } catch (error) {
    await db.kysely.destroy();
    throw new Error(`Cannot open the PostgreSQL store at DATABASE_URL=${redactUrl(url)}: ${errorReason(error)}`);
  }
  return db;
}

async function openSqlite(path: string): Promise<Db> {
  mkdirSync(dirname(path), { recursive: true });
  const sqlite = new Sqlite(path);
  // The API and worker processes share the file: WAL lets readers run beside the writer; the busy
  // timeout makes a writer wait for the lock instead of failing at once.
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('busy_timeout = 10000');
  sqlite.pragma('synchronous = NORMAL');
  const kysely = new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) });
  const db: Db = { kysely, dialect: 'sqlite' };
  await migrateSqlite(db);
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

async function migrateSqlite(db: Db): Promise<void> {
  if (await migratedByNewerVersion(db)) return;
  const migrator = new Migrator({ db: db.kysely, provider: migrations('sqlite') });
  // SQLite has no migration lock: an API and a worker starting together on a fresh file can both try the same
  // migration. The loser fails on an existing table; on a second look every migration is applied.
  for (let attempt = 1; ; attempt++) {
    const { error } = await migrator.migrateToLatest();
    if (!error) return;
    if (attempt >= 5) throw error instanceof Error ? error : new Error(String(error));
    await new Promise((r) => setTimeout(r, 100 * attempt));
  }
}

/**
 * True when the store was migrated by a newer version of this service: every migration this code knows has run, and
 * so have later ones it does not know. During a rolling upgrade the new version migrates first; a process of the
 * previous version that starts (or restarts) afterwards runs on the newer schema, as migrations only ever add, instead
 * of refusing to start on migrations it has never heard of.
 */
async function migratedByNewerVersion(db: Db): Promise<boolean> {
  const tables = await db.kysely.introspection.getTables({ withInternalKyselyTables: true });
  if (!tables.some((t) => t.name === 'kysely_migration')) return false;
  const rows = await sql<{ name: string }>`select name from kysely_migration`.execute(db.kysely);
  const executed = rows.rows.map((r) => r.name);
  const known = Object.keys(await migrations(db.dialect).getMigrations()).sort();
  const newer = executed.filter((name) => !known.includes(name));
  if (newer.length === 0 || !known.every((name) => executed.includes(name))) return false;
  if (!newer.every((name) => name > known[known.length - 1])) return false;
  console.warn(
    `the metadata store was migrated by a newer version of this service (${newer.sort().join(', ')}); ` +
      'running on it unchanged (migrations only add)',
  );
  return true;
}
