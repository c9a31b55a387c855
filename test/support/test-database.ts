/**
 * Which metadata store the suite runs against. Default: SQLite in each stack's DATA_DIR (no extra env).
 * The PostgreSQL run sets it per stack here.
 */
export async function testDatabaseEnv(): Promise<Record<string, string>> {
  return {};
}
