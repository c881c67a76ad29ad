// SQLite through better-sqlite3: `memory:` (tests, benchmarks) or a file (the embedded default).
// Open one Storage per file per process: better-sqlite3 is synchronous, so a second handle
// waiting on busy_timeout would block the very event loop the first one needs to commit.
// Separate processes sharing a file are fine (WAL + BEGIN IMMEDIATE, see transaction.ts).

import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, SqliteDialect, type SqliteDatabase, type SqliteStatement } from 'kysely';
import type { Database, Db, SqlHandle } from './schema.js';

export const MEMORY = ':memory:';

/** Prepared statements kept per database; kysely's queries use a few dozen distinct SQL texts. */
const STATEMENT_CACHE_SIZE = 256;

// PRAGMA data_version per open database, for dataVersionOf().
const dataVersions = new WeakMap<Db, () => number>();

export function openSqlite(file: string): SqlHandle {
  let database: SQLite.Database | undefined;
  try {
    if (file !== MEMORY) mkdirSync(dirname(resolve(file)), { recursive: true });
    database = new SQLite(file);
    // First: switching a fresh file to WAL needs a lock that a racing process may hold.
    database.pragma('busy_timeout = 5000');
    if (file !== MEMORY) {
      // WAL: readers never block the writer, and several processes can share the file.
      database.pragma('journal_mode = WAL');
      // With WAL, NORMAL is safe against corruption; only the last commits may be lost on power failure.
      database.pragma('synchronous = NORMAL');
    }
    database.pragma('foreign_keys = ON');
  } catch (err) {
    database?.close();
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(`storage: cannot open sqlite database ${file}: ${reason}`, { cause: err });
  }
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(database) }) });
  const dataVersion = database.prepare('PRAGMA data_version').pluck();
  dataVersions.set(db, () => dataVersion.get() as number);
  return { db, dialect: 'sqlite' };
}

/**
 * PRAGMA data_version of a database opened by openSqlite: it changes when another connection
 * (another process, or another Storage on the same file) commits, never for this connection's
 * own writes. Costs one read transaction (a few µs on a WAL file): callers rate-limit it.
 */
export function dataVersionOf(db: Db): (() => number) | undefined {
  return dataVersions.get(db);
}

/**
 * The database as kysely sees it, with prepare() memoised per SQL text. kysely prepares on
 * every query, which cost 10–15% of a token request; better-sqlite3 statements are made to be
 * reused: all() and run() execute to completion and reset the statement, and nothing else
 * runs on this thread meanwhile. iterate() is the exception: its statement stays busy until
 * the iterator finishes, and a second use meanwhile throws, so streaming (kysely's
 * streamQuery) always prepares a statement of its own.
 */
function withStatementCache(database: SQLite.Database): SqliteDatabase {
  const statements = new Map<string, SqliteStatement>();
  return {
    close: () => database.close(),
    prepare(sql) {
      let cached = statements.get(sql);
      if (cached === undefined) {
        const stmt = database.prepare(sql);
        cached = {
          reader: stmt.reader,
          all: (parameters) => stmt.all(parameters),
          run: (parameters) => stmt.run(parameters),
          iterate: (parameters) => database.prepare(sql).iterate(parameters),
        };
        // bounded: drop the oldest (queries with varying `in (…)` lists make new texts)
        if (statements.size >= STATEMENT_CACHE_SIZE) statements.delete(statements.keys().next().value!);
        statements.set(sql, cached);
      }
      return cached;
    },
  };
}
