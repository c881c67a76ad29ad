// openStorage: one URL in, one Storage out.
//   memory:            SQLite in memory (tests, benchmarks)
//   sqlite:PATH        SQLite file (the embedded default)
//   postgres://…       PostgreSQL (also postgresql://…)
// SQLite migrates itself on open; PostgreSQL is shared by many instances, so its schema is
// changed only by `drawbridge migrate` unless autoMigrate says otherwise.

import { sql } from 'kysely';
import { listPendingMigrations, migrateToLatest } from './migrate.js';
import { openPostgres } from './postgres.js';
import { SqlClientRepo } from './repos/clients.js';
import { SqlConsumerRepo, SqlCredentialRepo } from './repos/consumers.js';
import { SqlEntityRepo } from './repos/entities.js';
import { SqlJtiRepo } from './repos/jtis.js';
import { SqlKeyRepo } from './repos/keys.js';
import { SqlTokenRepo } from './repos/tokens.js';
import { SqlUserRepo } from './repos/users.js';
import type { SqlHandle } from './schema.js';
import { MEMORY, openSqlite } from './sqlite.js';
import type { Storage } from './types.js';

export interface OpenStorageOptions {
  /** Apply pending migrations on open. Default: true for SQLite and memory:, false for PostgreSQL. */
  autoMigrate?: boolean;
  /**
   * When not auto-migrating, refuse to open a database with pending migrations (default true).
   * `drawbridge migrate` passes false, then calls storage.migrate() and reports what it applied.
   */
  checkMigrations?: boolean;
}

// The handle behind each Storage, for helpers that are not part of the Storage contract.
const handles = new WeakMap<Storage, SqlHandle>();

export async function openStorage(url: string, opts: OpenStorageOptions = {}): Promise<Storage> {
  const handle = await connect(url);
  try {
    if (opts.autoMigrate ?? handle.dialect === 'sqlite') {
      await migrateToLatest(handle);
    } else if (opts.checkMigrations ?? true) {
      const pending = await listPendingMigrations(handle);
      if (pending.length > 0) {
        throw new Error(
          `storage: ${pending.length} pending migration(s); run "drawbridge migrate --config FILE"`,
        );
      }
    }
  } catch (err) {
    await handle.db.destroy().catch(() => undefined);
    throw err;
  }
  return createStorage(handle);
}

/** Names of migrations not yet applied (for `drawbridge migrate` to report before applying). */
export async function pendingMigrations(storage: Storage): Promise<string[]> {
  const handle = handles.get(storage);
  if (!handle) throw new Error('storage: pendingMigrations needs a Storage from openStorage');
  return listPendingMigrations(handle);
}

async function connect(url: string): Promise<SqlHandle> {
  if (url === 'memory:') return openSqlite(MEMORY);
  if (url.startsWith('sqlite:')) return openSqlite(sqlitePath(url));
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) return openPostgres(url);
  // Only the scheme: an unknown URL may still carry a password.
  const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(url)?.[0] ?? '(none)';
  throw new Error(`storage: unsupported URL scheme ${scheme}; use memory:, sqlite:PATH or postgres://…`);
}

/** sqlite:PATH, also sqlite://PATH and sqlite:///abs/path as other tools write them. */
function sqlitePath(url: string): string {
  let path = url.slice('sqlite:'.length);
  if (path.startsWith('//')) path = path.slice(2);
  if (path === '') throw new Error('storage: sqlite: URL needs a file path (sqlite:PATH)');
  return path;
}

function createStorage(handle: SqlHandle): Storage {
  let closing: Promise<void> | undefined;
  const storage: Storage = {
    kind: handle.dialect,
    clients: new SqlClientRepo(handle.db),
    keys: new SqlKeyRepo(handle),
    tokens: new SqlTokenRepo(handle.db),
    jtis: new SqlJtiRepo(handle.db),
    users: new SqlUserRepo(handle.db),
    consumers: new SqlConsumerRepo(handle.db),
    credentials: new SqlCredentialRepo(handle.db),
    entities: new SqlEntityRepo(handle.db),
    migrate: () => migrateToLatest(handle),
    async ping() {
      await sql`select 1`.execute(handle.db);
    },
    // Idempotent: shutdown paths may close twice, and pg's pool.end() throws the second time.
    close() {
      closing ??= handle.db.destroy();
      return closing;
    },
  };
  handles.set(storage, handle);
  return storage;
}
