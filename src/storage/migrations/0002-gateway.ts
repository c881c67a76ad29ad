// Gateway consumers, their credentials, and the entities the admin API creates.
// Frozen once released: never edit, add the next migration. Kysely<any> as in 0001.

import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('consumers')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('username', 'text', (c) => c.notNull().unique())
    .addColumn('groups', 'text', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();

  // Secrets never in clear: key-auth keys as a keyed digest in `lookup`, basic-auth
  // passwords as argon2id in `secret_hash`, HMAC secrets sealed in `secret_sealed`.
  await db.schema
    .createTable('credentials')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('consumer_id', 'text', (c) => c.notNull().references('consumers.id').onDelete('cascade'))
    .addColumn('plugin', 'text', (c) => c.notNull())
    .addColumn('lookup', 'text', (c) => c.notNull())
    .addColumn('secret_hash', 'text')
    .addColumn('secret_sealed', 'text')
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('credentials_plugin_lookup', ['plugin', 'lookup'])
    .execute();
  await db.schema.createIndex('credentials_consumer_id').on('credentials').column('consumer_id').execute();

  await db.schema
    .createTable('gateway_entities')
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('name', 'text')
    .addColumn('body', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('gateway_entities_pk', ['kind', 'id'])
    .execute();
  // NULL names are distinct on both dialects: unnamed routes and plugins never collide.
  await db.schema.createIndex('gateway_entities_kind_name').unique().on('gateway_entities').columns(['kind', 'name']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['gateway_entities', 'credentials', 'consumers']) {
    await db.schema.dropTable(table).execute();
  }
}
