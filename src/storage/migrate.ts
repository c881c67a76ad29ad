// Schema migrations through kysely's Migrator and the static list in migrations/index.ts.

import { Migrator, sql } from 'kysely';
import { migrationProvider } from './migrations/index.js';
import type { Db, SqlHandle } from './schema.js';
import { writeTransaction } from './transaction.js';

const MIGRATION_TABLE = 'drawbridge_migration';

// The bookkeeping tables sit next to ours (on PostgreSQL: in current_schema(); see
// postgres-introspector.ts for why the Migrator only looks there).
function createMigrator(db: Db): Migrator {
  return new Migrator({
    db,
    provider: migrationProvider,
    migrationTableName: MIGRATION_TABLE,
    migrationLockTableName: 'drawbridge_migration_lock',
  });
}

/**
 * Refuses a database that a newer Drawbridge has migrated: its bookkeeping names migrations
 * this code does not know, so its tables may hold columns and rows this code would write or
 * read wrongly. (kysely's own check only said "corrupted migrations", and nothing checked when
 * PostgreSQL was opened without migrating: an older instance ran on the newer schema.)
 */
export async function assertKnownSchema(handle: SqlHandle): Promise<void> {
  const exists =
    handle.dialect === 'postgres'
      ? await sql<{ t: string | null }>`select to_regclass(${MIGRATION_TABLE}) as t`.execute(handle.db)
      : await sql<{ t: string }>`select name as t from sqlite_master where type = 'table' and name = ${MIGRATION_TABLE}`.execute(handle.db);
  if (exists.rows.length === 0 || exists.rows[0]!.t === null) return; // a fresh database
  const known = new Set(Object.keys(await migrationProvider.getMigrations()));
  const applied = await sql<{ name: string }>`select name from ${sql.table(MIGRATION_TABLE)} order by name`.execute(handle.db);
  const unknown = applied.rows.map((r) => r.name).filter((name) => !known.has(name));
  if (unknown.length === 0) return;
  const newest = [...known].sort().at(-1);
  throw new Error(
    `storage: the database was migrated by a newer version of Drawbridge (migration(s) ${unknown.join(', ')}, unknown to this version, ` +
      `whose newest is ${newest}); refusing to use it. Run the newer version, or restore a backup taken before the upgrade`,
  );
}

/** Apply every pending migration; returns the names applied (in order). */
export async function migrateToLatest(handle: SqlHandle): Promise<string[]> {
  await assertKnownSchema(handle);
  if (handle.dialect === 'postgres') {
    // The Migrator takes an advisory lock and runs all migrations in one transaction, on a
    // handle without the query timeout: a migration of a large table may take its time.
    const own = handle.forMigrations ? await handle.forMigrations() : handle;
    try {
      return await runMigrator(createMigrator(own.db));
    } finally {
      if (own !== handle) await own.db.destroy();
    }
  }
  // kysely runs SQLite migrations without a transaction or a lock; our IMMEDIATE transaction
  // adds both, so two processes opening a fresh file at once migrate it exactly once.
  return writeTransaction(handle, (conn) => runMigrator(createMigrator(conn)));
}

export async function listPendingMigrations(handle: SqlHandle): Promise<string[]> {
  const migrations = await createMigrator(handle.db).getMigrations();
  return migrations.filter((m) => m.executedAt === undefined).map((m) => m.name);
}

async function runMigrator(migrator: Migrator): Promise<string[]> {
  const { error, results = [] } = await migrator.migrateToLatest();
  if (error !== undefined) {
    const failed = results.find((r) => r.status === 'Error')?.migrationName;
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`storage: migration ${failed ?? '(setup)'} failed: ${reason}`, { cause: error });
  }
  return results.filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
