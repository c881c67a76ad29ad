// Migration 0014 (signing_keys.activates_at; at most one next key per alg) on every target:
// keys of an older database read on unchanged (no activates_at), a next key can be added and
// promoted, the index itself (not only the repository) refuses a second next key of one alg,
// and down (a waiting next key retired, never made current; column and index gone) and up
// again work (SQLite file, memory:, PostgreSQL).

import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Migrator } from 'kysely';
import { pendingMigrations, sqlHandleOf } from '../../src/storage/open.js';
import type { Storage } from '../../src/storage/types.js';
import { eachMigratedTo, migrateDown, migrateTo } from './migration-support.js';
import { allTargets } from './targets.js';
import { NOW, signingKeyRecord as key } from './fixtures.js';

const BEFORE = '0013-consumer-custom-id-tags';
const THIS = '0014-signing-keys-next';

/** A raw row as an older version writes it: no activates_at column yet. */
function oldRow(kid: string, status: string, created_at: number, publish_until: number | null = null): Record<string, unknown> {
  return { kid, alg: 'ES256', public_jwk: JSON.stringify({ kty: 'EC', kid }), private_enc: `enc:${kid}`, status, created_at, publish_until };
}

for (const target of await allTargets()) {
  describe(`migration 0014 (signing keys published ahead): ${target.name}`, { skip: target.skip }, () => {
    let storage: Storage;
    let migrator: Migrator;
    eachMigratedTo(target, BEFORE, (opened, m) => {
      storage = opened;
      migrator = m;
    });

    it('older keys read on unchanged; a next key joins and takes over; the index refuses a second next key of one alg', async () => {
      assert.equal((await pendingMigrations(storage))[0], THIS);
      const db = sqlHandleOf(storage)!.db as any;
      await db.insertInto('signing_keys').values(oldRow('old', 'previous', NOW - 200, NOW + 100)).execute();
      await db.insertInto('signing_keys').values(oldRow('cur', 'current', NOW - 100)).execute();
      await migrateTo(migrator, THIS);

      const cur = (await storage.keys.current('ES256'))!;
      assert.equal(cur.kid, 'cur');
      assert.equal('activates_at' in cur, false, 'absent, not null, for keys made current at once');
      await storage.keys.addNext(key('nxt', { status: 'next' }), NOW + 60);
      // raw rows, past the repository: the database holds the line, other algs are free
      await assert.rejects(db.insertInto('signing_keys').values({ ...oldRow('nxt2', 'next', NOW), activates_at: NOW + 90 }).execute());
      await db.insertInto('signing_keys').values({ ...oldRow('rs-nxt', 'next', NOW), alg: 'RS256', activates_at: NOW + 90 }).execute();
      assert.deepEqual((await storage.keys.published(NOW)).map((k) => [k.kid, k.status]), [['cur', 'current'], ['nxt', 'next'], ['rs-nxt', 'next'], ['old', 'previous']]);
      assert.deepEqual((await storage.keys.promoteDue(NOW + 60, NOW + 500)).map((k) => k.kid), ['nxt']);
      assert.equal((await storage.keys.current('ES256'))?.activates_at, NOW + 60);
    });

    it('down retires a waiting next key (never made current), drops the column and the index; up again works', async () => {
      await migrateTo(migrator, THIS);
      await storage.keys.insertInitial(key('cur', { created_at: NOW - 10 }));
      await storage.keys.addNext(key('nxt', { status: 'next' }), NOW + 60);
      assert.deepEqual(await migrateDown(migrator), [[THIS, 'Success']]);
      const db = sqlHandleOf(storage)!.db as any;
      const rows = await db.selectFrom('signing_keys').select(['kid', 'status']).orderBy('kid').execute();
      assert.deepEqual(rows, [{ kid: 'cur', status: 'current' }, { kid: 'nxt', status: 'retired' }]);
      const columns = Object.keys((await db.selectFrom('signing_keys').selectAll().executeTakeFirst()) as object).sort();
      assert.deepEqual(columns, ['alg', 'created_at', 'kid', 'private_enc', 'public_jwk', 'publish_until', 'status']);
      await migrateTo(migrator, THIS);
      assert.equal((await storage.keys.current('ES256'))?.kid, 'cur');
      // the index is back
      await storage.keys.addNext(key('n1', { status: 'next' }), NOW + 60);
      assert.equal((await storage.keys.addNext(key('n2', { status: 'next' }), NOW + 90)).kid, 'n1');
      await assert.rejects(db.insertInto('signing_keys').values({ ...oldRow('n3', 'next', NOW), activates_at: NOW + 90 }).execute());
    });
  });
}
