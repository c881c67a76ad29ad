// Write transactions that behave the same on both dialects.
//
// SQLite: kysely's transaction() issues a plain (deferred) BEGIN, which takes the write lock
// only at the first write; when another process writes in between, SQLite fails with
// SQLITE_BUSY at once instead of waiting for busy_timeout. BEGIN IMMEDIATE takes the write
// lock up front, so concurrent writers queue behind busy_timeout instead.
// PostgreSQL: an ordinary READ COMMITTED transaction; row locks and unique indexes do the rest.

import { sql } from 'kysely';
import type { Db, SqlHandle } from './schema.js';

export async function writeTransaction<T>(handle: SqlHandle, fn: (trx: Db) => Promise<T>): Promise<T> {
  if (handle.dialect === 'postgres') return handle.db.transaction().execute(fn);
  return handle.db.connection().execute(async function sqliteImmediateTransaction(conn) {
    await sql`begin immediate`.execute(conn);
    try {
      const result = await fn(conn);
      await sql`commit`.execute(conn);
      return result;
    } catch (err) {
      // SQLite may already have rolled back (e.g. on SQLITE_FULL); the original error matters.
      await sql`rollback`.execute(conn).catch(() => undefined);
      throw err;
    }
  });
}
