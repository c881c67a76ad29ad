// Whether a client must use PKCE (RFC 7636) in the code flow. Public clients always must
// (RFC 9700 §2.1.1); a confidential client may be let off (`require_pkce: false`) for
// server-side RPs that do not send code_challenge.
//   clients.require_pkce  1 required, 0 not required; NULL (rows written before this
//                         migration, or by an instance that predates it) read as required
// Nullable rather than a default so an older instance's writes keep meaning "required".
// Codes issued without a challenge need no column: auth_codes.code_challenge is '' for them.
// Frozen once released: never edit, add the next migration. Kysely<any> as in 0001.

import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('clients').addColumn('require_pkce', 'integer').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('clients').dropColumn('require_pkce').execute();
}
