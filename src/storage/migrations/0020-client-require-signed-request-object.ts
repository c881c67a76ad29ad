// Whether a client must send its authorization requests as signed request objects (RFC 9101
// §10.5; OIDC Dynamic Client Registration metadata `require_signed_request_object`).
//   clients.require_signed_request_object  1 required, 0 not; NULL (rows written before this
//                                          migration, or by an instance that predates it)
//                                          read as not required
// Frozen once released: never edit, add the next migration. Kysely<any> as in 0001.

import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('clients').addColumn('require_signed_request_object', 'integer').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('clients').dropColumn('require_signed_request_object').execute();
}
