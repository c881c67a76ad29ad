// Back-channel logout deliveries not yet made (src/storage/repos/backchannel-logouts.ts): one
// row per logout token still to be sent, so that a failed delivery is retried by any auth server
// instance, after a restart or a crash too. The row holds what mints the token at each attempt
// (jti, client, sub, sid), never the signed token.
//   due_at   when the next attempt is due; while `claim` is set, when that claim lapses
//   claim    the instance attempting it now (NULL between attempts)
// Frozen once released: never edit, add the next migration. Kysely<any> as in 0001.

import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('backchannel_logouts')
    .addColumn('jti', 'text', (c) => c.primaryKey())
    .addColumn('client_id', 'text', (c) => c.notNull())
    .addColumn('sub', 'text', (c) => c.notNull())
    .addColumn('sid', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull())
    .addColumn('due_at', 'bigint', (c) => c.notNull())
    .addColumn('claim', 'text')
    .execute();
  await db.schema.createIndex('backchannel_logouts_due_at').on('backchannel_logouts').column('due_at').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('backchannel_logouts').execute();
}
