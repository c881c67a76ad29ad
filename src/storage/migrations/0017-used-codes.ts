// Used authorization codes, remembered for as long as the tokens issued from them may live.
// A code is deleted a minute after its 60 s lifetime; RFC 6749 §4.1.2 asks that a second use
// revoke what the first one got, and those tokens live far longer (a refresh family up to
// auth.refresh_token_ttl). So a code redeemed for tokens leaves this small record behind:
//   used_codes.digest      text, primary key: the code's digest (as auth_codes.digest)
//   used_codes.grant_id    text: the grant its tokens carry (tokens.grant_id), revoked on a replay
//   used_codes.client_id   text, used_codes.user_id text: for the audit record of the replay
//   used_codes.expires_at  bigint: when the last token issued from the code has expired; then
//                          the housekeeping deletes the row (indexed for it)
// Frozen once released: never edit, add the next migration. Kysely<any> as in 0001.

import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('used_codes')
    .addColumn('digest', 'text', (c) => c.primaryKey())
    .addColumn('grant_id', 'text', (c) => c.notNull())
    .addColumn('client_id', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('used_codes_expires_at').on('used_codes').column('expires_at').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('used_codes').execute();
}
