// Multi-factor authentication of users: TOTP and recovery codes.
// Frozen once released: never edit, add the next migration. Kysely<any> as in 0001.

import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  // One row per user that has MFA state. The TOTP secret is sealed under a key derived from
  // the master secret (it must be readable to verify codes); totp_last_step stops a code
  // from being used twice.
  await db.schema
    .createTable('user_mfa')
    .addColumn('user_id', 'text', (c) => c.primaryKey().references('users.id').onDelete('cascade'))
    .addColumn('required', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('totp_secret', 'text')
    .addColumn('totp_confirmed_at', 'bigint')
    .addColumn('totp_last_step', 'bigint')
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();

  // Recovery codes as SHA-256 digests (they are high-entropy); a row is deleted when used,
  // so single use is one atomic DELETE on both dialects.
  await db.schema
    .createTable('user_recovery_codes')
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('digest', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('user_recovery_codes_pk', ['user_id', 'digest'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['user_recovery_codes', 'user_mfa']) {
    await db.schema.dropTable(table).execute();
  }
}
