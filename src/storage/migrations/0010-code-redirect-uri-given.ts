// Whether the authorization request named redirect_uri (RFC 6749 §4.1.3: then the token
// request must name the same one; when it did not, the token request may omit it).
//   auth_codes.redirect_uri_given  1 named, 0 omitted (the client's single registered URI was
//                                  used); NULL for codes written before this migration or by
//                                  an instance that predates it: the old rule applies to those
//                                  (omission accepted when the client has one registered URI).
// Codes live 60 s, so NULL rows vanish within a minute of the upgrade; nullable rather than a
// default so that nothing claims to know what was not recorded.
// Frozen once released: never edit, add the next migration. Kysely<any> as in 0001.

import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('auth_codes').addColumn('redirect_uri_given', 'integer').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('auth_codes').dropColumn('redirect_uri_given').execute();
}
