// The one algorithm a client's request objects may be signed with (RFC 9101, OIDC Dynamic
// Client Registration metadata `request_object_signing_alg`).
//   clients.request_object_signing_alg  a JWS alg; NULL (rows written before this migration,
//                                       or a client without the setting): any alg the server
//                                       accepts on request objects
// Frozen once released: never edit, add the next migration. Kysely<any> as in 0001.

import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('clients').addColumn('request_object_signing_alg', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('clients').dropColumn('request_object_signing_alg').execute();
}
