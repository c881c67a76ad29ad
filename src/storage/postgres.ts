// PostgreSQL through a pg Pool. The URL is handed to pg untouched, so everything libpq-style
// URLs carry works: sslmode, host=/socket/dir, and options=-c search_path=… (tests use it to
// work in a throw-away schema).

import pg from 'pg';
import { Kysely, PostgresDialect, sql, type DatabaseIntrospector } from 'kysely';
import { CurrentSchemaIntrospector } from './postgres-introspector.js';
import type { Database, SqlHandle } from './schema.js';

const POOL_SIZE = 10;
const CONNECT_TIMEOUT_MS = 10_000;

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

export async function openPostgres(url: string): Promise<SqlHandle> {
  const pool = new pg.Pool({
    connectionString: url,
    max: POOL_SIZE,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    types: int8AsNumber,
  });
  // An idle client that loses its connection (server restart, failover) emits 'error' on the
  // pool; unhandled, that would crash the process. The pool drops the client, and the next
  // query opens a new connection or fails with its own error.
  pool.on('error', () => undefined);
  const db = new Kysely<Database>({ dialect: new DrawbridgePostgresDialect({ pool }) });
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
  return { db, dialect: 'postgres' };
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

function describeError(err: unknown, url: string): string {
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
