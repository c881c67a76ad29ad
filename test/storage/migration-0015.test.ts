// Migration 0015 (tokens.exchanged_from, indexed where set) on every target: tokens of an
// older database read on unchanged (no exchanged_from), new ones record the token they were
// exchanged from, and down (column and index gone) and up again work (SQLite file, memory:,
// PostgreSQL). On memory: tokens live in Maps, so there only the table itself is checked.

import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Migrator } from 'kysely';
import { pendingMigrations, sqlHandleOf } from '../../src/storage/open.js';
import type { Storage } from '../../src/storage/types.js';
import { eachMigratedTo, migrateDown, migrateTo } from './migration-support.js';
import { allTargets } from './targets.js';

const NOW = 1_700_000_000;
const BEFORE = '0014-signing-keys-next';
const THIS = '0015-tokens-exchanged-from';

/** A raw access-token row as an older version writes it: no exchanged_from column yet. */
function oldRow(digest: string): Record<string, unknown> {
  return {
    digest, kind: 'access_token', format: 'opaque', jti: `jti-${digest}`, client_id: 'c1', sub: 's1', scope: '',
    audience: '["api"]', grant_id: null, issued_at: NOW, expires_at: NOW + 600, revoked_at: null, extra: null,
  };
}

for (const target of await allTargets()) {
  describe(`migration 0015 (tokens exchanged from): ${target.name}`, { skip: target.skip }, () => {
    let storage: Storage;
    let migrator: Migrator;
    eachMigratedTo(target, BEFORE, (opened, m) => {
      storage = opened;
      migrator = m;
    });

    it('older tokens read on unchanged; new ones record the token they were exchanged from', async () => {
      assert.equal((await pendingMigrations(storage))[0], THIS);
      const db = sqlHandleOf(storage)!.db as any;
      await db.insertInto('tokens').values(oldRow('old')).execute();
      await migrateTo(migrator, THIS);
      await db.insertInto('tokens').values({ ...oldRow('child'), exchanged_from: 'old' }).execute();
      const rows = await db.selectFrom('tokens').select(['digest', 'exchanged_from']).orderBy('digest').execute();
      assert.deepEqual(rows, [{ digest: 'child', exchanged_from: 'old' }, { digest: 'old', exchanged_from: null }]);
      if (target.tokenStore !== 'sql') return;
      const old = (await storage.tokens.findByDigest('old'))!;
      assert.equal('exchanged_from' in old, false, 'absent, not null, for tokens written before');
      assert.equal((await storage.tokens.findByDigest('child'))?.exchanged_from, 'old');
      assert.deepEqual((await storage.tokens.revokeExchanged(['old'], NOW + 1)).map((t) => t.digest), ['child']);
    });

    it('down drops the column and the index; up again works', async () => {
      await migrateTo(migrator, THIS);
      const db = sqlHandleOf(storage)!.db as any;
      await db.insertInto('tokens').values({ ...oldRow('child'), exchanged_from: 'gone' }).execute();
      assert.deepEqual(await migrateDown(migrator), [[THIS, 'Success']]);
      const columns = Object.keys((await db.selectFrom('tokens').selectAll().executeTakeFirst()) as object);
      assert.equal(columns.includes('exchanged_from'), false);
      assert.equal(columns.includes('digest'), true);
      await migrateTo(migrator, THIS);
      await db.insertInto('tokens').values({ ...oldRow('again'), exchanged_from: 'child' }).execute();
      assert.equal((await db.selectFrom('tokens').select('exchanged_from').where('digest', '=', 'again').executeTakeFirst()).exchanged_from, 'child');
    });
  });
}
