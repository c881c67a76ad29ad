// Token exchange (RFC 8693) ends with the token it was exchanged from: revoking a subject
// token revokes what was exchanged from it, and so on down the chain.
//   tokens.exchanged_from  text; the digest of the stored access token this token was
//                          exchanged from. NULL: not an exchanged token, or exchanged from a
//                          token we never stored (the gateway's internal JWT), or written
//                          before this migration.
//   tokens_exchanged_from  partial index (WHERE exchanged_from IS NOT NULL), as 0004 does for
//                          grant_id: almost no token is an exchanged one, so inserts of the
//                          others cost nothing more, and revocation finds the children by it.
// Frozen once released: never edit, add the next migration. Kysely<any> as in 0001.

import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('tokens').addColumn('exchanged_from', 'text').execute();
  await db.schema
    .createIndex('tokens_exchanged_from')
    .on('tokens')
    .column('exchanged_from')
    .where(sql.ref('exchanged_from'), 'is not', null)
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  // SQLite refuses to drop an indexed column: the index goes first
  await db.schema.dropIndex('tokens_exchanged_from').execute();
  await db.schema.alterTable('tokens').dropColumn('exchanged_from').execute();
}
