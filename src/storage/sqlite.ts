// SQLite through better-sqlite3: `memory:` (tests, benchmarks) or a file (the embedded default).
// Open one Storage per file per process: better-sqlite3 is synchronous, so a second handle
// waiting on busy_timeout would block the very event loop the first one needs to commit.
// Separate processes sharing a file are fine (WAL + BEGIN IMMEDIATE, see transaction.ts).

import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import type { Database, SqlHandle } from './schema.js';

export const MEMORY = ':memory:';

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
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database }) });
  return { db, dialect: 'sqlite' };
}
