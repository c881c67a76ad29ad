// Kong's consumer `custom_id` (the operator's own id for a consumer) and `tags` (labels to
// filter by).
//   consumers.custom_id  text; NULL: none. Unique when set: a unique index, not a constraint,
//                        because NULLs are distinct on both dialects, so any number of
//                        consumers may have none. The index, not only the admin API's check,
//                        makes one of two writers racing for one custom_id fail.
//   consumers.tags       JSON text list of strings; NULL: none (rows written before this
//                        migration, or by an instance that predates it).
// Frozen once released: never edit, add the next migration. Kysely<any> as in 0001.

import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  // one column per statement: SQLite's ALTER TABLE adds one at a time
  await db.schema.alterTable('consumers').addColumn('custom_id', 'text').execute();
  await db.schema.alterTable('consumers').addColumn('tags', 'text').execute();
  await db.schema.createIndex('consumers_custom_id').unique().on('consumers').column('custom_id').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  // SQLite refuses to drop an indexed column: the index goes first
  await db.schema.dropIndex('consumers_custom_id').execute();
  await db.schema.alterTable('consumers').dropColumn('tags').execute();
  await db.schema.alterTable('consumers').dropColumn('custom_id').execute();
}
