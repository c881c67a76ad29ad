// Migration 0010 (auth_codes.redirect_uri_given) on every target: a code written before it
// reads back as "not recorded" (null), codes written after it keep true/false, and the
// migration goes down and up again cleanly (SQLite file, memory:, PostgreSQL).

import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Migrator } from 'kysely';
import { pendingMigrations, sqlHandleOf } from '../../src/storage/open.js';
import type { AuthCodeRecord, Storage } from '../../src/storage/types.js';
import { eachMigratedTo, migrateDown, migrateTo } from './migration-support.js';
import { allTargets } from './targets.js';

const NOW = 1_700_000_000;
const BEFORE = '0009-gateway-sessions';
const THIS = '0010-code-redirect-uri-given';

function code(digest: string, over: Partial<AuthCodeRecord> = {}): AuthCodeRecord {
  return {
    digest,
    id: `grant-${digest}`,
    client_id: 'web',
    redirect_uri: 'https://app.example/cb',
    scope: 'openid',
    nonce: null,
    code_challenge: 'c'.repeat(43),
    user_id: 'user-1',
    sid: null,
    auth_time: NOW,
    amr: ['pwd'],
    acr: null,
    created_at: NOW,
    expires_at: NOW + 60,
    used_at: null,
    redirect_uri_given: true,
    ...over,
  };
}

for (const target of await allTargets()) {
  describe(`migration 0010 (auth_codes.redirect_uri_given): ${target.name}`, { skip: target.skip }, () => {
    let storage: Storage;
    let migrator: Migrator;
    eachMigratedTo(target, BEFORE, (opened, m) => {
      storage = opened;
      migrator = m;
    });

    it('a code written before the migration reads back with redirect_uri_given null', async () => {
      // later migrations (0011 …) follow it: only the first pending one is this one
      assert.equal((await pendingMigrations(storage))[0], THIS);
      // a row as the 0009 schema holds it (no redirect_uri_given column yet)
      const { redirect_uri_given: _, ...old } = code('old');
      await sqlHandleOf(storage)!.db.insertInto('auth_codes').values({ ...old, amr: JSON.stringify(old.amr) } as never).execute();
      assert.equal((await storage.migrate())[0], THIS);
      const consumed = await storage.authCodes.consume('old', NOW + 1);
      assert.deepEqual(consumed, { code: code('old', { redirect_uri_given: null, used_at: NOW + 1 }), first: true });
    });

    it('after it: true, false and null round-trip; down and up again keep the table usable', async () => {
      // up to this migration only, so migrateDown below undoes this one
      await migrateTo(migrator, THIS);
      await storage.authCodes.insert(code('named'));
      await storage.authCodes.insert(code('omitted', { redirect_uri_given: false }));
      await storage.authCodes.insert(code('unknown', { redirect_uri_given: null }));
      assert.equal((await storage.authCodes.consume('named', NOW))!.code.redirect_uri_given, true);
      assert.equal((await storage.authCodes.consume('omitted', NOW))!.code.redirect_uri_given, false);
      assert.equal((await storage.authCodes.consume('unknown', NOW))!.code.redirect_uri_given, null);

      assert.deepEqual(await migrateDown(migrator), [[THIS, 'Success']]);
      assert.equal((await pendingMigrations(storage))[0], THIS);
      assert.equal((await storage.migrate())[0], THIS);
      // rows kept through down/up have lost what they recorded: null, the old rule
      const again = await storage.authCodes.consume('named', NOW + 5);
      assert.equal(again!.code.redirect_uri_given, null);
      assert.equal(again!.first, false);
    });
  });
}
