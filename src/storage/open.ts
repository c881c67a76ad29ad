// openStorage: one URL in, one Storage out.
//   memory:            SQLite in memory (tests, benchmarks); tokens and jtis in Maps (./memory/)
//   sqlite:PATH        SQLite file (the embedded default)
//   postgres://…       PostgreSQL (also postgresql://…)
// SQLite migrates itself on open; PostgreSQL is shared by many instances, so its schema is
// changed only by `drawbridge migrate` unless autoMigrate says otherwise.

import { sql } from 'kysely';
import { assertKnownSchema, listPendingMigrations, migrateToLatest } from './migrate.js';
import { SqlClientRepo } from './repos/clients.js';
import { SqlConsumerRepo, SqlCredentialRepo } from './repos/consumers.js';
import { SqlEntityRepo } from './repos/entities.js';
import { SqlJtiRepo } from './repos/jtis.js';
import { SqlKeyRepo } from './repos/keys.js';
import { SqlTokenRepo } from './repos/tokens.js';
import { SqlUserRepo } from './repos/users.js';
import { SqlAuthCodeRepo } from './repos/auth-codes.js';
import { SqlConsentRepo } from './repos/consents.js';
import { SqlSsoSessionRepo } from './repos/sso-sessions.js';
import { SqlBackchannelLogoutRepo } from './repos/backchannel-logouts.js';
import { MemoryJtiRepo } from './memory/jtis.js';
import { MemoryTokenRepo } from './memory/tokens.js';
import type { SqlHandle } from './schema.js';
import { MEMORY, dataVersionOf, openSqlite } from './sqlite.js';
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
const changeStamps = new WeakMap<Storage, () => number>();

/** How often, at most, clientsChangeStamp asks SQLite whether another connection committed. */
const DATA_VERSION_CHECK_MS = 50;

export async function openStorage(url: string, opts: OpenStorageOptions = {}): Promise<Storage> {
  const memory = url === 'memory:';
  const handle = await connect(url);
  try {
    if (opts.autoMigrate ?? handle.dialect === 'sqlite') {
      await migrateToLatest(handle);
    } else if (opts.checkMigrations ?? true) {
      await assertKnownSchema(handle);
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
  return createStorage(handle, memory);
}

/** Names of migrations not yet applied (for `drawbridge migrate` to report before applying). */
export async function pendingMigrations(storage: Storage): Promise<string[]> {
  const handle = handles.get(storage);
  if (!handle) throw new Error('storage: pendingMigrations needs a Storage from openStorage');
  return listPendingMigrations(handle);
}

/**
 * The SQL handle behind a Storage from openStorage (undefined otherwise), for stores that
 * live beside the repositories on the same connection (src/sessions/sql-store.ts).
 */
export function sqlHandleOf(storage: Storage): SqlHandle | undefined {
  return handles.get(storage);
}

/**
 * A number that changes whenever the stored clients may have changed, for caches of clients
 * (src/auth/clients.ts): at once after a write through this Storage's ClientRepo, and on
 * SQLite within 50 ms after another connection commits anything (PRAGMA data_version, e.g.
 * `drawbridge client delete` in another process). PostgreSQL offers no such cheap signal:
 * there, changes made elsewhere are seen only when the cache re-reads (its TTL).
 * undefined for a Storage that openStorage did not make.
 */
export function clientsChangeStamp(storage: Storage): (() => number) | undefined {
  return changeStamps.get(storage);
}

async function connect(url: string): Promise<SqlHandle> {
  if (url === 'memory:') return openSqlite(MEMORY);
  if (url.startsWith('sqlite:')) return openSqlite(sqlitePath(url));
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    // loaded on demand: a SQLite deployment (and every CLI command on one) never loads pg
    const { openPostgres } = await import('./postgres.js');
    return openPostgres(url);
  }
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

function createStorage(handle: SqlHandle, memory: boolean): Storage {
  let closing: Promise<void> | undefined;
  const clients = new SqlClientRepo(handle.db);
  const storage: Storage = {
    kind: handle.dialect,
    clients,
    keys: new SqlKeyRepo(handle),
    // memory: holds tokens and one-time markers in Maps, like oidc-provider's MemoryAdapter:
    // nothing else can see an in-memory database, so SQL would only add cost there.
    tokens: memory ? new MemoryTokenRepo() : new SqlTokenRepo(handle),
    jtis: memory ? new MemoryJtiRepo() : new SqlJtiRepo(handle.db),
    users: new SqlUserRepo(handle.db),
    consumers: new SqlConsumerRepo(handle.db),
    credentials: new SqlCredentialRepo(handle.db),
    entities: new SqlEntityRepo(handle.db),
    ssoSessions: new SqlSsoSessionRepo(handle.db),
    authCodes: new SqlAuthCodeRepo(handle.db),
    consents: new SqlConsentRepo(handle.db),
    backchannelLogouts: new SqlBackchannelLogoutRepo(handle),
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
  changeStamps.set(storage, changeStamp(clients, dataVersionOf(handle.db)));
  return storage;
}

function changeStamp(clients: SqlClientRepo, dataVersion: (() => number) | undefined): () => number {
  if (dataVersion === undefined) return () => clients.writes;
  // data_version costs a read transaction (µs on a WAL file): ask at most every 50 ms.
  // Both parts only grow, so their sum changes whenever either does.
  let checkedAt = Date.now();
  let seen = dataVersion();
  let external = 0;
  return function clientsStamp() {
    const now = Date.now();
    if (now - checkedAt >= DATA_VERSION_CHECK_MS) {
      checkedAt = now;
      const v = dataVersion();
      if (v !== seen) {
        seen = v;
        external++;
      }
    }
    return clients.writes + external;
  };
}
