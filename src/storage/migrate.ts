// Schema migrations through kysely's Migrator and the static list in migrations/index.ts.

import { Migrator } from 'kysely';
import { migrationProvider } from './migrations/index.js';
import type { Db, SqlHandle } from './schema.js';
import { writeTransaction } from './transaction.js';

// The bookkeeping tables sit next to ours (on PostgreSQL: in current_schema(); see
// postgres-introspector.ts for why the Migrator only looks there).
function createMigrator(db: Db): Migrator {
  return new Migrator({
    db,
    provider: migrationProvider,
    migrationTableName: 'drawbridge_migration',
    migrationLockTableName: 'drawbridge_migration_lock',
  });
}

/** Apply every pending migration; returns the names applied (in order). */
export async function migrateToLatest(handle: SqlHandle): Promise<string[]> {
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
