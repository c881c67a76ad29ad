// Shared by the migration-00NN tests: a database migrated up to just before the migration
// under test, with a Migrator on the same bookkeeping tables as src/storage/migrate.ts (so
// storage.migrate() continues from where the test left it).
import { Migrator } from 'kysely';
import { migrationProvider } from '../../src/storage/migrations/index.js';
import { openStorage, sqlHandleOf } from '../../src/storage/open.js';
import type { Storage } from '../../src/storage/types.js';
import { afterEach, beforeEach } from 'node:test';
import type { Place, Target } from './targets.js';

/** Opens `place` as `drawbridge migrate` does (nothing applied yet) and migrates up to `before`. */
export async function openMigratedTo(place: Place, before: string): Promise<{ storage: Storage; migrator: Migrator }> {
  const storage = await openStorage(place.url, { autoMigrate: false, checkMigrations: false });
  const migrator = new Migrator({
    db: sqlHandleOf(storage)!.db,
    provider: migrationProvider,
    migrationTableName: 'drawbridge_migration',
    migrationLockTableName: 'drawbridge_migration_lock',
  });
  await migrateTo(migrator, before);
  return { storage, migrator };
}

/** Migrates up (or down) to `name`; throws the migration's error. */
export async function migrateTo(migrator: Migrator, name: string): Promise<void> {
  const { error } = await migrator.migrateTo(name);
  if (error !== undefined) throw error;
}

/** Migrates up to the newest migration, as the repositories expect (they write every column). */
export async function migrateToLatest(migrator: Migrator): Promise<void> {
  const { error } = await migrator.migrateToLatest();
  if (error !== undefined) throw error;
}

/** Undoes the newest applied migration; returns [name, status] of what ran. */
export async function migrateDown(migrator: Migrator): Promise<[string, string][] | undefined> {
  const { error, results } = await migrator.migrateDown();
  if (error !== undefined) throw error;
  return results?.map((r) => [r.migrationName, r.status]);
}

/**
 * Every test of the enclosing describe gets a database on `target` migrated up to `before`
 * (as `drawbridge migrate` opens it), handed to `opened`; closed and removed afterwards.
 */
export function eachMigratedTo(target: Target, before: string, opened: (storage: Storage, migrator: Migrator) => void): void {
  let place: Place | undefined;
  let storage: Storage | undefined;
  beforeEach(async () => {
    place = await target.prepare();
    const found = await openMigratedTo(place, before);
    storage = found.storage;
    opened(found.storage, found.migrator);
  });
  afterEach(async () => {
    await storage?.close();
    await place?.cleanup();
    storage = undefined;
    place = undefined;
  });
}
