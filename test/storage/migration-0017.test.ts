// Migration 0017 (used_codes) on every target: codes stored before it are consumed as before
// and, once redeemed, can be remembered; down drops the table and up again works (SQLite
// file, memory:, PostgreSQL).

import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Migrator } from 'kysely';
import { pendingMigrations, sqlHandleOf } from '../../src/storage/open.js';
import type { AuthCodeRecord, Storage } from '../../src/storage/types.js';
import { eachMigratedTo, migrateDown, migrateTo } from './migration-support.js';
import { allTargets } from './targets.js';

const NOW = 1_700_000_000;
const BEFORE = '0016-client-require-par';
const THIS = '0017-used-codes';

function code(digest: string): AuthCodeRecord {
  return {
    digest, id: `grant-${digest}`, client_id: 'web', redirect_uri: 'https://app.example/cb', scope: 'openid', nonce: null, code_challenge: 'c'.repeat(43),
    user_id: 'u1', sid: null, auth_time: NOW, amr: ['pwd'], acr: null, created_at: NOW, expires_at: NOW + 60, used_at: null, redirect_uri_given: true,
  };
}

const used = (digest: string) => ({ digest, grant_id: `grant-${digest}`, client_id: 'web', user_id: 'u1', expires_at: NOW + 3600 });

for (const target of await allTargets()) {
  describe(`migration 0017 (used codes): ${target.name}`, { skip: target.skip }, () => {
    let storage: Storage;
    let migrator: Migrator;
    eachMigratedTo(target, BEFORE, (opened, m) => {
      storage = opened;
      migrator = m;
    });

    it('a code stored before it is consumed as before, then remembered as used', async () => {
      assert.equal((await pendingMigrations(storage))[0], THIS);
      await storage.authCodes.insert(code('old'));
      await migrateTo(migrator, THIS);
      assert.equal((await storage.authCodes.consume('old', NOW + 1))?.first, true);
      await storage.authCodes.rememberUsed(used('old'));
      assert.deepEqual(await storage.authCodes.findUsed('old', NOW + 2), used('old'));
    });

    it('down drops the table; up again works', async () => {
      await migrateTo(migrator, THIS);
      await storage.authCodes.rememberUsed(used('x'));
      assert.deepEqual(await migrateDown(migrator), [[THIS, 'Success']]);
      const db = sqlHandleOf(storage)!.db as any;
      await assert.rejects(db.selectFrom('used_codes').selectAll().execute(), 'the table is gone');
      await migrateTo(migrator, THIS);
      assert.equal(await storage.authCodes.findUsed('x', NOW), undefined, 'a new, empty table');
      await storage.authCodes.rememberUsed(used('x'));
      assert.deepEqual(await storage.authCodes.findUsed('x', NOW), used('x'));
    });
  });
}
