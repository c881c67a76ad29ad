// A database that cannot answer (stopped, restarting, unreachable, silent, out of connections,
// a SQLite file locked past busy_timeout) is a temporary condition, not a bug: every query
// that fails for such a reason rejects with core's UnavailableError (503 temporarily_unavailable
// with Retry-After wherever it reaches toAppError), the driver's error as its `cause` for the
// log. Any other error (a constraint, a syntax error) passes through untouched, so callers that
// look at driver codes (unique violations) see what they saw before.
//
// Done once, around kysely's driver, so every repository, store and transaction is covered.

import type { DatabaseConnection, Dialect, Driver, Kysely, QueryResult, CompiledQuery, TransactionSettings } from 'kysely';
import { UnavailableError } from '../core/errors.js';

/** Socket errors, PostgreSQL SQLSTATEs (class 08 is matched by prefix below) and SQLite result codes. */
const CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  '53300', // too_many_connections
  '57014', // query_canceled (statement_timeout)
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up, shutting down, recovering)
  'SQLITE_CANTOPEN',
  'SQLITE_FULL',
  'SQLITE_PROTOCOL',
]);

/** SQLite result codes whose extended forms (SQLITE_BUSY_SNAPSHOT, SQLITE_IOERR_WRITE, …) count too. */
const CODE_PREFIXES = ['SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_IOERR'];

/** node-postgres reports these without a code. */
const MESSAGES = /Connection terminated|Query read timeout|timeout exceeded when trying to connect|is not queryable|Connection closed|the database system is (starting up|shutting down|in recovery mode)/i;

export function isUnavailableError(err: unknown): boolean {
  if (err instanceof UnavailableError) return true;
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (CODES.has(code) || code.startsWith('08')) return true;
    if (CODE_PREFIXES.some((p) => code === p || code.startsWith(`${p}_`))) return true;
  }
  // Node's happy-eyeballs connect (localhost → ::1 and 127.0.0.1) fails with an AggregateError
  if (err instanceof AggregateError && err.errors.some(isUnavailableError)) return true;
  return MESSAGES.test(err.message);
}

/** The error to throw: an UnavailableError for a database that cannot answer, else `err` itself. */
function unavailableOr(err: unknown): unknown {
  if (err instanceof UnavailableError || !isUnavailableError(err)) return err;
  const reason = err instanceof Error ? err.message || (err instanceof AggregateError ? err.errors.map(String).join('; ') : err.name) : String(err);
  return new UnavailableError(`storage: database unavailable (${reason})`, { cause: err });
}

/** The driver's own error behind an UnavailableError made here (for messages that name it). */
export function driverError(err: unknown): unknown {
  return err instanceof UnavailableError && err.cause !== undefined ? err.cause : err;
}

async function mapped<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw unavailableOr(err);
  }
}

// Connections are patched in place, once: kysely's drivers release them through private
// members, so a wrapper object would not do.
const patched = new WeakSet<DatabaseConnection>();

function patch(conn: DatabaseConnection): DatabaseConnection {
  if (patched.has(conn)) return conn;
  patched.add(conn);
  const execute = conn.executeQuery.bind(conn);
  const stream = conn.streamQuery.bind(conn);
  conn.executeQuery = function executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    return mapped(() => execute<R>(query));
  };
  conn.streamQuery = async function* streamQuery<R>(query: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
    try {
      yield* stream<R>(query, chunkSize);
    } catch (err) {
      throw unavailableOr(err);
    }
  };
  return conn;
}

class MappedDriver implements Driver {
  readonly #inner: Driver;

  savepoint?: Driver['savepoint'];
  rollbackToSavepoint?: Driver['rollbackToSavepoint'];
  releaseSavepoint?: Driver['releaseSavepoint'];

  constructor(inner: Driver) {
    this.#inner = inner;
    // only what the inner driver offers: kysely checks for them
    const { savepoint, rollbackToSavepoint, releaseSavepoint } = inner;
    if (savepoint) this.savepoint = (conn, name, compile) => mapped(() => savepoint.call(inner, conn, name, compile));
    if (rollbackToSavepoint) this.rollbackToSavepoint = (conn, name, compile) => mapped(() => rollbackToSavepoint.call(inner, conn, name, compile));
    if (releaseSavepoint) this.releaseSavepoint = (conn, name, compile) => mapped(() => releaseSavepoint.call(inner, conn, name, compile));
  }

  init(): Promise<void> {
    return mapped(() => this.#inner.init());
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    return patch(await mapped(() => this.#inner.acquireConnection()));
  }

  beginTransaction(conn: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    return mapped(() => this.#inner.beginTransaction(conn, settings));
  }

  commitTransaction(conn: DatabaseConnection): Promise<void> {
    return mapped(() => this.#inner.commitTransaction(conn));
  }

  rollbackTransaction(conn: DatabaseConnection): Promise<void> {
    return mapped(() => this.#inner.rollbackTransaction(conn));
  }

  releaseConnection(conn: DatabaseConnection): Promise<void> {
    return this.#inner.releaseConnection(conn);
  }

  destroy(): Promise<void> {
    return this.#inner.destroy();
  }
}

/** `dialect` with its driver's failures to reach the database turned into UnavailableError. */
export function withUnavailableErrors(dialect: Dialect): Dialect {
  return {
    createAdapter: () => dialect.createAdapter(),
    createDriver: () => new MappedDriver(dialect.createDriver()),
    createQueryCompiler: () => dialect.createQueryCompiler(),
    createIntrospector: (db: Kysely<any>) => dialect.createIntrospector(db),
  };
}
