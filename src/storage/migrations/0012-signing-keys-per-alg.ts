// One current signing key PER ALGORITHM (OIDC Discovery §3 wants RS256 ID tokens offered
// next to the main ES256 key), and each client's choice of ID token algorithm.
//   signing_keys: the unique partial index "one row with status current" (0001) becomes
//                 "one current row per alg"; existing tables hold at most one current key,
//                 so they satisfy the new index as they are.
//   clients.id_token_signed_response_alg  SigningAlg (OIDC Dynamic Client Registration
//                 metadata name); NULL: the server's default ID token algorithm.
// Frozen once released: never edit, add the next migration. Kysely<any> as in 0001.

import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('signing_keys_one_current').execute();
  await db.schema
    .createIndex('signing_keys_one_current_per_alg')
    .unique()
    .on('signing_keys')
    .column('alg')
    .where(sql.ref('status'), '=', sql.lit('current'))
    .execute();
  await db.schema.alterTable('clients').addColumn('id_token_signed_response_alg', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('clients').dropColumn('id_token_signed_response_alg').execute();
  await db.schema.dropIndex('signing_keys_one_current_per_alg').execute();
  // The old index allows one current key in all: the newest stays current, the others are
  // demoted to `previous` and stay published for a day, so tokens they signed still verify.
  const newest = await db
    .selectFrom('signing_keys')
    .select('kid')
    .where('status', '=', 'current')
    .orderBy('created_at', 'desc')
    .orderBy('kid')
    .executeTakeFirst();
  if (newest) {
    const until = Math.floor(Date.now() / 1000) + 86_400;
    await db
      .updateTable('signing_keys')
      .set({ status: 'previous', publish_until: until })
      .where('status', '=', 'current')
      .where('kid', '!=', newest.kid)
      .execute();
  }
  await db.schema
    .createIndex('signing_keys_one_current')
    .unique()
    .on('signing_keys')
    .column('status')
    .where(sql.ref('status'), '=', sql.lit('current'))
    .execute();
}
