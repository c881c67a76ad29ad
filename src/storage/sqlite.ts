// SQLite: `memory:` (tests, benchmarks) or a file (the embedded default), through one of two
// drivers with the same behaviour:
// - better-sqlite3 (12, the last major that runs on Node 20) on Node 20 and 22;
// - node:sqlite on Node 24 and later, where better-sqlite3 12 can abort the process when its
//   objects are collected (sqlite-node.ts says why).
// DRAWBRIDGE_SQLITE_DRIVER=better-sqlite3 | node:sqlite chooses one explicitly (node:sqlite
// needs Node 22.13 or later).
// Open one Storage per file per process: both drivers are synchronous, so a second handle
// waiting on busy_timeout would block the very event loop the first one needs to commit.
// Separate processes sharing a file are fine (WAL + BEGIN IMMEDIATE, see transaction.ts).

import { closeSync, mkdirSync, openSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import type SQLite from 'better-sqlite3';
import { Kysely, SqliteDialect, type SqliteDatabase, type SqliteStatement } from 'kysely';
import type { Database, Db, SqlHandle } from './schema.js';
import { dataVersionReader, nodeSqliteAvailable, nodeSqliteStatement, openNodeSqlite, pragma } from './sqlite-node.js';
import { withUnavailableErrors } from './unavailable.js';

export const MEMORY = ':memory:';

/** Prepared statements kept per database; kysely's queries use a few dozen distinct SQL texts. */
const STATEMENT_CACHE_SIZE = 256;

// PRAGMA data_version per open database, for dataVersionOf().
const dataVersions = new WeakMap<Db, () => number>();

type SqliteDriver = 'better-sqlite3' | 'node:sqlite';

const DRIVERS: readonly SqliteDriver[] = ['better-sqlite3', 'node:sqlite'];

/** The driver openSqlite uses here: DRAWBRIDGE_SQLITE_DRIVER, else node:sqlite from Node 24 on. */
export function sqliteDriver(env: NodeJS.ProcessEnv = process.env, nodeVersion = process.versions.node): SqliteDriver {
  const chosen = env.DRAWBRIDGE_SQLITE_DRIVER;
  if (chosen !== undefined && chosen !== '') {
    if (!(DRIVERS as readonly string[]).includes(chosen)) {
      throw new Error(`storage: DRAWBRIDGE_SQLITE_DRIVER must be one of ${DRIVERS.join(', ')}, got "${chosen}"`);
    }
    if (chosen === 'node:sqlite' && !nodeSqliteAvailable()) {
      throw new Error(`storage: DRAWBRIDGE_SQLITE_DRIVER=node:sqlite needs Node 22.13 or later (this is ${nodeVersion})`);
    }
    return chosen as SqliteDriver;
  }
  return Number(nodeVersion.split('.')[0]) >= 24 ? 'node:sqlite' : 'better-sqlite3';
}

let BetterSqlite: typeof SQLite | undefined;

function betterSqlite(): typeof SQLite {
  // required lazily: on Node 24 the addon is never loaded
  BetterSqlite ??= createRequire(import.meta.url)('better-sqlite3') as typeof SQLite;
  return BetterSqlite;
}

export function openSqlite(file: string): SqlHandle {
  const driver = sqliteDriver();
  try {
    if (file !== MEMORY) {
      mkdirSync(dirname(resolve(file)), { recursive: true });
      createPrivately(file);
    }
  } catch (err) {
    throw cannotOpen(file, err);
  }
  const opened = driver === 'node:sqlite' ? openWithNodeSqlite(file) : openWithBetterSqlite(file);
  // a file locked past busy_timeout, or a disk that fails, is a 503, not a 500 (unavailable.ts)
  const db = new Kysely<Database>({ dialect: withUnavailableErrors(new SqliteDialect({ database: opened.database })) });
  dataVersions.set(db, opened.dataVersion);
  return { db, dialect: 'sqlite' };
}

/**
 * A database Drawbridge creates is readable by its owner only (0600, like `secret`): it holds
 * secret digests and the sealed signing keys. SQLite gives the -wal and -shm files the mode
 * of the database file. A file that exists already keeps the mode its owner gave it.
 */
function createPrivately(file: string): void {
  try {
    closeSync(openSync(file, 'wx', 0o600));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}

interface Opened {
  database: SqliteDatabase;
  dataVersion: () => number;
}

/** The pragmas every connection gets, whichever the driver. */
function configure(run: (pragma: string) => void, file: string): void {
  // First: switching a fresh file to WAL needs a lock that a racing process may hold.
  run('busy_timeout = 5000');
  if (file !== MEMORY) {
    // WAL: readers never block the writer, and several processes can share the file.
    run('journal_mode = WAL');
    // With WAL, NORMAL is safe against corruption; only the last commits may be lost on power failure.
    run('synchronous = NORMAL');
  }
  run('foreign_keys = ON');
}

/** Opens with `open` and sets the pragmas with `pragma`; closed again, and the error named, when either fails. */
function openConfigured<D extends { close(): void }>(file: string, open: () => D, pragma: (database: D, text: string) => void): D {
  let database: D | undefined;
  try {
    const opened = (database = open());
    configure((p) => pragma(opened, p), file);
    return opened;
  } catch (err) {
    database?.close();
    throw cannotOpen(file, err);
  }
}

function openWithBetterSqlite(file: string): Opened {
  // the addon is loaded inside: a missing or broken build is a "cannot open" error too
  const d = openConfigured(file, () => new (betterSqlite())(file), (database, p) => database.pragma(p));
  const statement = (sql: string): SqliteStatement => {
    const stmt = d.prepare(sql);
    return {
      reader: stmt.reader,
      all: (parameters) => stmt.all(parameters),
      run: (parameters) => stmt.run(parameters),
      iterate: (parameters) => d.prepare(sql).iterate(parameters),
    };
  };
  const dataVersion = d.prepare('PRAGMA data_version').pluck();
  return { database: withStatementCache(() => d.close(), statement), dataVersion: () => dataVersion.get() as number };
}

function openWithNodeSqlite(file: string): Opened {
  const d = openConfigured(file, () => openNodeSqlite(file), pragma);
  return { database: withStatementCache(() => d.close(), (sql) => nodeSqliteStatement(d, sql)), dataVersion: dataVersionReader(d) };
}

function cannotOpen(file: string, err: unknown): Error {
  const reason = err instanceof Error ? err.message : String(err);
  return new Error(`storage: cannot open sqlite database ${file}: ${reason}`, { cause: err });
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
 * every query, which cost 10–15% of a token request; statements of both drivers are made to
 * be reused: all() and run() execute to completion and reset the statement, and nothing else
 * runs on this thread meanwhile. iterate() is the exception: its statement stays busy until
 * the iterator finishes, and a second use meanwhile throws, so streaming (kysely's
 * streamQuery) always prepares a statement of its own (`statement` does that).
 */
function withStatementCache(close: () => void, statement: (sql: string) => SqliteStatement): SqliteDatabase {
  const statements = new Map<string, SqliteStatement>();
  return {
    close,
    prepare(sql) {
      let cached = statements.get(sql);
      if (cached === undefined) {
        cached = statement(sql);
        // bounded: drop the oldest (queries with varying `in (…)` lists make new texts)
        if (statements.size >= STATEMENT_CACHE_SIZE) statements.delete(statements.keys().next().value!);
        statements.set(sql, cached);
      }
      return cached;
    },
  };
}
