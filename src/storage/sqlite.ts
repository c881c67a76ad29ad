// SQLite through better-sqlite3: `memory:` (tests, benchmarks) or a file (the embedded default).

import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import type { Database, SqlHandle } from './schema.js';

export const MEMORY = ':memory:';

export function openSqlite(file: string): SqlHandle {
  if (file !== MEMORY) mkdirSync(dirname(resolve(file)), { recursive: true });
  const database = new SQLite(file);
  // First: switching a fresh file to WAL needs a lock that a racing process may hold.
  database.pragma('busy_timeout = 5000');
  if (file !== MEMORY) {
    // WAL: readers never block the writer, and several processes can share the file.
    database.pragma('journal_mode = WAL');
    // With WAL, NORMAL is safe against corruption; only the last commits may be lost on power failure.
    database.pragma('synchronous = NORMAL');
  }
  database.pragma('foreign_keys = ON');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database }) });
  return { db, dialect: 'sqlite', schema: undefined };
}
