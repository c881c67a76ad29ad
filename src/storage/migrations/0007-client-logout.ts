// Logout (OIDC RP-Initiated Logout 1.0, Back-Channel Logout 1.0): the clients' logout
// metadata, and which grants were made in each SSO session (whom to tell at logout, which
// tokens die with it).
//   clients.post_logout_redirect_uris            JSON list; NULL read as []
//   clients.backchannel_logout_uri               where logout tokens are POSTed
//   clients.backchannel_logout_session_required  0/1; NULL read as 0
//   sso_session_grants                           (session_id, grant_id) → client_id
// No foreign key from sso_session_grants to sso_sessions: Redis-held sessions record their
// grants in Redis, and a code exchanged just after its session ended must not fail; the
// repository deletes the rows with their session and sweeps orphans in deleteExpired.
// Frozen once released: never edit, add the next migration. Kysely<any> as in 0001.

import type { Kysely } from 'kysely';

const CLIENT_COLUMNS: Array<[string, 'text' | 'integer']> = [
  ['post_logout_redirect_uris', 'text'],
  ['backchannel_logout_uri', 'text'],
  ['backchannel_logout_session_required', 'integer'],
];

export async function up(db: Kysely<any>): Promise<void> {
  // one column per statement: SQLite's ALTER TABLE adds a single column
  for (const [name, type] of CLIENT_COLUMNS) await db.schema.alterTable('clients').addColumn(name, type).execute();
  await db.schema
    .createTable('sso_session_grants')
    .addColumn('session_id', 'text', (c) => c.notNull())
    .addColumn('grant_id', 'text', (c) => c.notNull())
    .addColumn('client_id', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('sso_session_grants_pk', ['session_id', 'grant_id'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('sso_session_grants').execute();
  for (const [name] of CLIENT_COLUMNS.slice().reverse()) await db.schema.alterTable('clients').dropColumn(name).execute();
}
