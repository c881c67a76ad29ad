// Refresh-token rotation (RFC 9700 §4.14): what a refresh token needs beyond an access token.
// Nullable columns on `tokens` (access tokens leave them NULL), so housekeeping's
// deleteExpired keeps cleaning both kinds in one statement.
//   idle_expires_at  unused for this long → dead (capped by expires_at, the absolute lifetime)
//   session_id       the SSO session it may not outlive (tokens without offline_access)
//   rotated_at       when it was exchanged; a later use outside the grace window is reuse
//   replacement      the response it was exchanged for, sealed, served again within the grace window
// Frozen once released: never edit, add the next migration. Kysely<any> as in 0001.

import type { Kysely } from 'kysely';

const COLUMNS: Array<[string, 'bigint' | 'text']> = [
  ['idle_expires_at', 'bigint'],
  ['session_id', 'text'],
  ['rotated_at', 'bigint'],
  ['replacement', 'text'],
];

export async function up(db: Kysely<any>): Promise<void> {
  // one column per statement: SQLite's ALTER TABLE adds a single column
  for (const [name, type] of COLUMNS) await db.schema.alterTable('tokens').addColumn(name, type).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const [name] of COLUMNS.slice().reverse()) await db.schema.alterTable('tokens').dropColumn(name).execute();
}
