// PostgreSQL through a pg Pool. The URL is handed to pg as it is (but for the two timeouts
// below), so everything libpq-style URLs carry works: sslmode, host=/socket/dir, and
// options=-c search_path=… (tests use it to work in a throw-away schema).
//
// A database that fails must never hold a request forever (unavailable.ts turns the failures
// into 503s): getting a connection (a new one, or a turn when all POOL_SIZE are busy) gives up
// after connect_timeout, and a query the server does not answer after query_timeout, its
// connection then closed (it is stuck behind that query). Both can be set in the URL:
// `connect_timeout` in seconds as libpq has it, `query_timeout` in milliseconds as pg has it
// (0: none). Migrations run without a query timeout (openPostgres's queryTimeoutMs).

import pg from 'pg';
import { Kysely, PostgresDialect, sql, type DatabaseIntrospector } from 'kysely';
import { postgresTimeouts } from '../config/formats.js';
import { CurrentSchemaIntrospector } from './postgres-introspector.js';
import type { Database, SqlHandle } from './schema.js';
import { driverError, withUnavailableErrors } from './unavailable.js';

const POOL_SIZE = 10;
const CONNECT_TIMEOUT_MS = 5_000;
const QUERY_TIMEOUT_MS = 10_000;
/** pg's message for a query that outlived query_timeout */
const QUERY_TIMEOUT_MESSAGE = 'Query read timeout';

// Our times are bigint columns; pg returns int8 as strings by default (it may exceed 2^53).
// Epoch seconds never do, so parse them as numbers — per pool, not through the global pg.types.
const int8AsNumber: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === pg.types.builtins.INT8 && format !== 'binary'
      ? (value: string) => Number(value)
      : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
};

class DrawbridgePostgresDialect extends PostgresDialect {
  override createIntrospector(db: Kysely<any>): DatabaseIntrospector {
    return new CurrentSchemaIntrospector(db);
  }
}

/**
 * The pg Client of our pool:
 * - it always has an 'error' listener. pg emits 'error' on a client whose connection dies
 *   (the server stopped, crashed or failed over, or the network cut it); the pool listens on
 *   idle clients only, so for one checked out by a request, an unlistened 'error' was an
 *   uncaught exception that took the whole process down. The request's query rejects with
 *   the same error, and the pool drops the dead client when it comes back.
 * - it closes itself when a query times out: pg leaves such a query on the connection, so
 *   every later query there would wait behind it. Closed, the pool drops it.
 */
class DrawbridgeClient extends pg.Client {
  constructor(config?: string | pg.ClientConfig) {
    super(config);
    this.on('error', () => undefined);
  }
}
const plainQuery = pg.Client.prototype.query;
DrawbridgeClient.prototype.query = function queryClosingOnTimeout(this: pg.Client, ...args: unknown[]) {
  const result = (plainQuery as (...a: unknown[]) => unknown).apply(this, args);
  if (!(result instanceof Promise)) return result;
  return result.catch((err: unknown) => {
    if (err instanceof Error && err.message === QUERY_TIMEOUT_MESSAGE) this.end().catch(() => undefined);
    throw err;
  });
} as typeof plainQuery;

interface PostgresOptions {
  /** Default: the URL's query_timeout, else 10 s; 0: none (migrations). */
  queryTimeoutMs?: number;
}

/** The URL without connect_timeout and query_timeout, and their values (ms). */
function timeouts(url: string): { url: string; connectMs: number; queryMs: number | undefined } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return { url, connectMs: CONNECT_TIMEOUT_MS, queryMs: undefined };
  }
  // the config checks them too (`config validate` names them); this is the same rule
  const set = postgresTimeouts(u.searchParams);
  if (typeof set === 'string') throw new Error(`storage: ${set}`);
  if (!u.searchParams.has('connect_timeout') && !u.searchParams.has('query_timeout')) {
    return { url, connectMs: CONNECT_TIMEOUT_MS, queryMs: undefined };
  }
  u.searchParams.delete('connect_timeout');
  u.searchParams.delete('query_timeout');
  return { url: u.href, connectMs: set.connectSeconds === undefined ? CONNECT_TIMEOUT_MS : set.connectSeconds * 1000, queryMs: set.queryMs };
}

export async function openPostgres(rawUrl: string, opts: PostgresOptions = {}): Promise<SqlHandle> {
  const { url, connectMs, queryMs } = timeouts(rawUrl);
  const queryTimeout = opts.queryTimeoutMs ?? queryMs ?? QUERY_TIMEOUT_MS;
  const pool = new pg.Pool({
    connectionString: url,
    max: POOL_SIZE,
    connectionTimeoutMillis: connectMs,
    ...(queryTimeout > 0 && { query_timeout: queryTimeout }),
    // a peer gone without a word (a host down, a partition) is noticed on idle connections too
    keepAlive: true,
    Client: DrawbridgeClient,
    types: int8AsNumber,
  });
  // An idle client that loses its connection (server restart, failover) emits 'error' on the
  // pool; unhandled, that would crash the process. The pool drops the client, and the next
  // query opens a new connection or fails with its own error.
  pool.on('error', () => undefined);
  const db = new Kysely<Database>({ dialect: withUnavailableErrors(new DrawbridgePostgresDialect({ pool })) });
  // The first round trip doubles as the reachability check. Our tables live in
  // current_schema(): the first existing schema on search_path.
  let schema: string | null;
  try {
    const { rows } = await sql<{ schema: string | null }>`select current_schema() as schema`.execute(db);
    schema = rows[0]?.schema ?? null;
  } catch (err) {
    await db.destroy().catch(() => undefined);
    throw new Error(`storage: cannot connect to postgres at ${describeTarget(url)}: ${describeError(err, url)}`, {
      cause: err,
    });
  }
  if (schema === null) {
    await db.destroy();
    throw new Error(`storage: postgres at ${describeTarget(url)}: no existing schema on search_path`);
  }
  return { db, dialect: 'postgres', forMigrations: () => openPostgres(rawUrl, { queryTimeoutMs: 0 }) };
}

/** HOST:PORT as pg will use them, for error messages (never the credentials). */
function describeTarget(url: string): string {
  try {
    const u = new URL(url);
    const host = u.searchParams.get('host') ?? (u.hostname || 'localhost');
    return `${host}:${u.port || '5432'}`;
  } catch {
    return '(unparseable URL)';
  }
}

function describeError(failure: unknown, url: string): string {
  const err = driverError(failure);
  let message: string;
  if (err instanceof AggregateError && !err.message) {
    // Node's happy-eyeballs connect (::1 and 127.0.0.1) fails with an empty AggregateError.
    message = err.errors.map((e: unknown) => (e instanceof Error ? e.message : String(e))).join('; ');
  } else {
    message = err instanceof Error ? err.message : String(err);
  }
  return redactSecrets(message || 'unknown error', url);
}

function redactSecrets(message: string, url: string): string {
  const secrets: string[] = [];
  try {
    const u = new URL(url);
    if (u.password) secrets.push(u.password, decodeURIComponent(u.password));
    const param = u.searchParams.get('password');
    if (param) secrets.push(param);
  } catch {
    // unparseable: pg failed to parse it too, and its message does not echo the URL
  }
  let out = message;
  for (const secret of secrets) out = out.split(secret).join('***');
  return out;
}
