// Consent and MFA per client, so clients made by the CLI or the admin API can be first-party
// (`consent: skip`) or demand a second factor (`mfa: required`) like configured ones.
//   clients.consent  'ask' | 'skip'; NULL read as 'ask'
//   clients.mfa      'optional' | 'required'; NULL read as 'optional'
// Frozen once released: never edit, add the next migration. Kysely<any> as in 0001.

import type { Kysely } from 'kysely';

const CLIENT_COLUMNS = ['consent', 'mfa'] as const;

export async function up(db: Kysely<any>): Promise<void> {
  // one column per statement: SQLite's ALTER TABLE adds a single column
  for (const name of CLIENT_COLUMNS) await db.schema.alterTable('clients').addColumn(name, 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const name of CLIENT_COLUMNS.slice().reverse()) await db.schema.alterTable('clients').dropColumn(name).execute();
}
