// Whether a client must send its authorization requests through the pushed authorization
// request endpoint (RFC 9126 §6, client metadata `require_pushed_authorization_requests`).
//   clients.require_par  1 required, 0 not; NULL (rows written before this migration, or by
//                        an instance that predates it) read as not required
// Frozen once released: never edit, add the next migration. Kysely<any> as in 0001.

import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('clients').addColumn('require_par', 'integer').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('clients').dropColumn('require_par').execute();
}
