// Migration 0013 (consumers.custom_id with a unique index, consumers.tags) on every target:
// consumers of an older database read on without either, the index itself (not only the
// repository) refuses a second row with one custom_id while NULLs repeat freely, and down
// (columns and index gone, consumers kept) and up again work (SQLite file, memory:, PostgreSQL).

import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Migrator } from 'kysely';
import { pendingMigrations, sqlHandleOf } from '../../src/storage/open.js';
import type { ConsumerRecord, Storage } from '../../src/storage/types.js';
import { eachMigratedTo, migrateDown, migrateTo } from './migration-support.js';
import { allTargets } from './targets.js';

const NOW = 1_700_000_000;
const BEFORE = '0012-signing-keys-per-alg';
const THIS = '0013-consumer-custom-id-tags';

function row(id: string, username: string): Record<string, unknown> {
  return { id, username, groups: '[]', source: 'admin', created_at: NOW, updated_at: NOW };
}

for (const target of await allTargets()) {
  describe(`migration 0013 (consumer custom_id and tags): ${target.name}`, { skip: target.skip }, () => {
    let storage: Storage;
    let migrator: Migrator;
    eachMigratedTo(target, BEFORE, (opened, m) => {
      storage = opened;
      migrator = m;
    });

    it('older consumers read on without custom_id and tags; the index refuses a repeat custom_id, not repeated NULLs', async () => {
      assert.equal((await pendingMigrations(storage))[0], THIS);
      const db = sqlHandleOf(storage)!.db as any;
      // written by an instance that predates the migration: no such columns yet
      await db.insertInto('consumers').values(row('old-1', 'old-one')).execute();
      await db.insertInto('consumers').values(row('old-2', 'old-two')).execute();
      await migrateTo(migrator, THIS);

      const old = (await storage.consumers.getByUsername('old-one'))!;
      assert.deepEqual(old, { id: 'old-1', username: 'old-one', groups: [], source: 'admin', created_at: NOW, updated_at: NOW } satisfies ConsumerRecord);
      // raw rows, past the repository: the database holds the line
      await db.updateTable('consumers').set({ custom_id: 'ext-1', tags: '["a"]' }).where('id', '=', 'old-1').execute();
      await assert.rejects(db.updateTable('consumers').set({ custom_id: 'ext-1' }).where('id', '=', 'old-2').execute());
      await assert.rejects(db.insertInto('consumers').values({ ...row('new-1', 'new-one'), custom_id: 'ext-1' }).execute());
      await db.insertInto('consumers').values({ ...row('new-2', 'new-two'), custom_id: null }).execute();
      await db.insertInto('consumers').values({ ...row('new-3', 'new-three'), custom_id: null }).execute();
      assert.deepEqual((await storage.consumers.getByCustomId('ext-1'))?.tags, ['a']);
      assert.equal((await storage.consumers.list()).length, 4);
    });

    it('down drops the columns and the index, keeps the consumers; up again works', async () => {
      await migrateTo(migrator, THIS);
      await storage.consumers.upsert({ id: 'c1', username: 'kept', groups: ['g'], custom_id: 'ext', tags: ['t'], source: 'cli', created_at: NOW, updated_at: NOW });
      assert.deepEqual(await migrateDown(migrator), [[THIS, 'Success']]);
      const db = sqlHandleOf(storage)!.db as any;
      const rows = await db.selectFrom('consumers').selectAll().execute();
      assert.deepEqual(rows.map((r: Record<string, unknown>) => Object.keys(r).sort()), [['created_at', 'groups', 'id', 'source', 'updated_at', 'username']]);
      await migrateTo(migrator, THIS);
      assert.deepEqual(await storage.consumers.getByUsername('kept'), { id: 'c1', username: 'kept', groups: ['g'], source: 'cli', created_at: NOW, updated_at: NOW });
      // the index is back
      await storage.consumers.upsert({ id: 'c2', username: 'second', groups: [], custom_id: 'again', source: 'cli', created_at: NOW, updated_at: NOW });
      assert.equal(await storage.consumers.insert({ id: 'c3', username: 'third', groups: [], custom_id: 'again', source: 'cli', created_at: NOW, updated_at: NOW }), false);
    });
  });
}
