// Gateway sessions (src/sessions/sql-store.ts) for `gateway.sessions.store: sql`: one row per
// browser session, keyed by the SHA-256 of its cookie; the tokens column holds the access,
// refresh and ID tokens sealed. gateway_session_locks holds the per-session refresh lock
// (one row while held; a row past locked_until may be taken over), so the lock works across
// processes on SQLite and PostgreSQL alike.
// Frozen once released: never edit, add the next migration. Kysely<any> as in 0001.

import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('gateway_sessions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('sub', 'text', (c) => c.notNull())
    .addColumn('issuer', 'text', (c) => c.notNull())
    .addColumn('client_id', 'text', (c) => c.notNull())
    .addColumn('idp_sid', 'text')
    .addColumn('claims', 'text', (c) => c.notNull())
    .addColumn('scope', 'text', (c) => c.notNull())
    .addColumn('tokens', 'text', (c) => c.notNull())
    .addColumn('access_expires_at', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('last_seen_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('gateway_sessions_sub').on('gateway_sessions').column('sub').execute();
  await db.schema.createIndex('gateway_sessions_idp_sid').on('gateway_sessions').columns(['issuer', 'idp_sid']).execute();
  await db.schema.createIndex('gateway_sessions_expires_at').on('gateway_sessions').column('expires_at').execute();

  // locked_until in epoch milliseconds (locks last seconds, not minutes)
  await db.schema
    .createTable('gateway_session_locks')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('token', 'text', (c) => c.notNull())
    .addColumn('locked_until', 'bigint', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('gateway_session_locks').execute();
  await db.schema.dropTable('gateway_sessions').execute();
}
