// Signing keys published before they sign (`keys.publish_ahead`): `drawbridge key rotate`
// adds the new key with status 'next', in the JWKS at once, and every instance makes it current
// once its time has come, so verifiers that cache the JWKS know it before the first token.
//   signing_keys.activates_at  bigint epoch seconds; when a next key becomes current (kept
//                              after that). NULL: a key made current at once, or written
//                              before this migration.
//   signing_keys_one_next_per_alg  at most one next key per alg: two operators rotating at
//                              once end up with one successor, not two racing to take over.
// Frozen once released: never edit, add the next migration. Kysely<any> as in 0001.

import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('signing_keys').addColumn('activates_at', 'bigint').execute();
  await db.schema
    .createIndex('signing_keys_one_next_per_alg')
    .unique()
    .on('signing_keys')
    .column('alg')
    .where(sql.ref('status'), '=', sql.lit('next'))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  // Older versions know no 'next' status: a waiting key never signed anything, so it is
  // retired rather than made current behind the operator's back.
  await db.updateTable('signing_keys').set({ status: 'retired' }).where('status', '=', 'next').execute();
  await db.schema.dropIndex('signing_keys_one_next_per_alg').execute();
  await db.schema.alterTable('signing_keys').dropColumn('activates_at').execute();
}
