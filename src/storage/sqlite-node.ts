// SQLite through Node's own `node:sqlite` (DatabaseSync), the driver on Node 24 and later.
//
// better-sqlite3 12 (the last major that runs on Node 20) subclasses node::ObjectWrap, whose
// destructor on Node 24 removes an environment cleanup hook and asserts that the environment
// still exists: a Statement or Database collected at process teardown, or in a garbage
// collection with no Node environment current, aborts the process (SIGABRT, "Assertion
// failed: (env) != nullptr" in RemoveEnvironmentCleanupHook). node:sqlite has no such
// destructor, ships with Node, and on Node 24 prints no experimental warning.
//
// What the rest of storage relies on is kept the same as better-sqlite3's:
// - kysely's statement interface (reader / all / run / iterate);
// - `run` answers { changes, lastInsertRowid };
// - errors carry better-sqlite3's `code` names (SQLITE_CONSTRAINT_UNIQUE, SQLITE_BUSY, …), so
//   unique-key and busy checks work on either driver (node:sqlite says ERR_SQLITE_ERROR and
//   puts SQLite's result code in `errcode`).
import { createRequire } from 'node:module';
import type { SqliteStatement } from 'kysely';

/** The part of node:sqlite used here (its types are not in @types/node 20). */
interface StatementSync {
  columns(): unknown[];
  all(...parameters: unknown[]): unknown[];
  get(...parameters: unknown[]): Record<string, unknown> | undefined;
  run(...parameters: unknown[]): { changes: number | bigint; lastInsertRowid: number | bigint };
  iterate(...parameters: unknown[]): IterableIterator<unknown>;
}

interface DatabaseSync {
  exec(sql: string): void;
  prepare(sql: string): StatementSync;
  close(): void;
}

type DatabaseSyncClass = new (file: string) => DatabaseSync;

/** Whether this Node has node:sqlite with everything the adapter uses (Node 22.13+ / 23.4+). */
export function nodeSqliteAvailable(): boolean {
  try {
    return typeof nodeSqlite().prototype.prepare === 'function';
  } catch {
    return false;
  }
}

let DatabaseSyncCtor: DatabaseSyncClass | undefined;

function nodeSqlite(): DatabaseSyncClass {
  // required lazily: on Node 20 the module does not exist, and only this driver needs it
  DatabaseSyncCtor ??= (createRequire(import.meta.url)('node:sqlite') as { DatabaseSync: DatabaseSyncClass }).DatabaseSync;
  return DatabaseSyncCtor;
}

export function openNodeSqlite(file: string): DatabaseSync {
  const Ctor = nodeSqlite();
  return withSqliteCodes(() => new Ctor(file));
}

/** Runs one PRAGMA (or any statement) for its effect. */
export function pragma(database: DatabaseSync, text: string): void {
  withSqliteCodes(() => database.exec(`PRAGMA ${text}`));
}

/** `PRAGMA data_version`, prepared once. */
export function dataVersionReader(database: DatabaseSync): () => number {
  const stmt = database.prepare('PRAGMA data_version');
  return () => Number(stmt.get()!.data_version);
}

/** One SQL text as kysely's statement (sqlite.ts caches them per database). */
export function nodeSqliteStatement(database: DatabaseSync, sql: string): SqliteStatement {
  const stmt = withSqliteCodes(() => database.prepare(sql));
  return {
    reader: stmt.columns().length > 0,
    all: (parameters) => withSqliteCodes(() => plainRows(stmt.all(...parameters))),
    run: (parameters) => withSqliteCodes(() => stmt.run(...parameters)),
    // a statement of its own: an unfinished iterator keeps its statement busy
    iterate: (parameters) => plainIterator(withSqliteCodes(() => database.prepare(sql).iterate(...parameters))),
  };
}

/**
 * node:sqlite makes rows with a null prototype; better-sqlite3 makes plain objects, and callers
 * (and deepStrictEqual) may rely on that: copied into plain objects.
 */
function plainRows(rows: unknown[]): unknown[] {
  for (let i = 0; i < rows.length; i++) rows[i] = { ...(rows[i] as object) };
  return rows;
}

function* plainIterator(rows: IterableIterator<unknown>): IterableIterator<unknown> {
  try {
    for (const row of rows) yield { ...(row as object) };
  } catch (err) {
    throw renamed(err);
  }
}

function withSqliteCodes<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw renamed(err);
  }
}

/** SQLite result codes by number, named as better-sqlite3 names them (sqlite3.h). */
const RESULT_CODES: ReadonlyMap<number, string> = new Map([
  [1, 'ERROR'],
  [2, 'INTERNAL'],
  [3, 'PERM'],
  [4, 'ABORT'],
  [5, 'BUSY'],
  [6, 'LOCKED'],
  [7, 'NOMEM'],
  [8, 'READONLY'],
  [9, 'INTERRUPT'],
  [10, 'IOERR'],
  [11, 'CORRUPT'],
  [12, 'NOTFOUND'],
  [13, 'FULL'],
  [14, 'CANTOPEN'],
  [15, 'PROTOCOL'],
  [16, 'EMPTY'],
  [17, 'SCHEMA'],
  [18, 'TOOBIG'],
  [19, 'CONSTRAINT'],
  [20, 'MISMATCH'],
  [21, 'MISUSE'],
  [22, 'NOLFS'],
  [23, 'AUTH'],
  [24, 'FORMAT'],
  [25, 'RANGE'],
  [26, 'NOTADB'],
  [261, 'BUSY_RECOVERY'],
  [517, 'BUSY_SNAPSHOT'],
  [773, 'BUSY_TIMEOUT'],
  [275, 'CONSTRAINT_CHECK'],
  [531, 'CONSTRAINT_COMMITHOOK'],
  [787, 'CONSTRAINT_FOREIGNKEY'],
  [1043, 'CONSTRAINT_FUNCTION'],
  [1299, 'CONSTRAINT_NOTNULL'],
  [1555, 'CONSTRAINT_PRIMARYKEY'],
  [1811, 'CONSTRAINT_TRIGGER'],
  [2067, 'CONSTRAINT_UNIQUE'],
  [2323, 'CONSTRAINT_VTAB'],
  [2579, 'CONSTRAINT_ROWID'],
  [2835, 'CONSTRAINT_PINNED'],
  [3091, 'CONSTRAINT_DATATYPE'],
  [1032, 'READONLY_DBMOVED'],
  [264, 'READONLY_RECOVERY'],
  [520, 'READONLY_CANTLOCK'],
  [776, 'READONLY_ROLLBACK'],
  [262, 'LOCKED_SHAREDCACHE'],
]);

/** node:sqlite's error with `code` set to the SQLite result code's name (`errcode` and `errstr` stay). */
export function renamed(err: unknown): unknown {
  if (err === null || typeof err !== 'object') return err;
  const e = err as { code?: unknown; errcode?: unknown };
  if (e.code !== 'ERR_SQLITE_ERROR' || typeof e.errcode !== 'number') return err;
  const name = RESULT_CODES.get(e.errcode) ?? RESULT_CODES.get(e.errcode & 0xff);
  if (name !== undefined) e.code = `SQLITE_${name}`;
  return err;
}
