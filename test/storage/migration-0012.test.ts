// Migration 0012 (one current signing key per algorithm; clients.id_token_signed_response_alg)
// on every target: the single current key of an older database stays current, a current key of
// another algorithm can join it, a second current key of the same algorithm is refused by the
// database itself, the client column round-trips, and down (the newest current key stays, the
// others are demoted but stay published) and up again work (SQLite file, memory:, PostgreSQL).

import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Migrator } from 'kysely';
import { pendingMigrations, sqlHandleOf } from '../../src/storage/open.js';
import type { ClientRecord, Storage } from '../../src/storage/types.js';
import { eachMigratedTo, migrateDown, migrateTo, migrateToLatest } from './migration-support.js';
import { allTargets } from './targets.js';
import { NOW, signingKeyRecord as key } from './fixtures.js';

const BEFORE = '0011-client-require-pkce';
const THIS = '0012-signing-keys-per-alg';

function client(client_id: string, over: Partial<ClientRecord> = {}): ClientRecord {
  return {
    client_id,
    client_name: null,
    secret_hash: null,
    redirect_uris: ['https://app.example/cb'],
    grant_types: ['authorization_code'],
    scopes: ['openid'],
    default_scopes: ['openid'],
    token_endpoint_auth_method: 'none',
    jwks: null,
    jwks_uri: null,
    access_token_format: 'opaque',
    access_token_ttl: null,
    audiences: null,
    post_logout_redirect_uris: [],
    backchannel_logout_uri: null,
    backchannel_logout_session_required: false,
    source: 'cli',
    created_at: NOW,
    updated_at: NOW,
    ...over,
  };
}

for (const target of await allTargets()) {
  describe(`migration 0012 (signing keys per alg, client ID token alg): ${target.name}`, { skip: target.skip }, () => {
    let storage: Storage;
    let migrator: Migrator;
    eachMigratedTo(target, BEFORE, (opened, m) => {
      storage = opened;
      migrator = m;
    });

    it('the old single current key stays current; another alg joins it; the same alg twice is refused', async () => {
      assert.equal((await pendingMigrations(storage))[0], THIS);
      const es = key('es1', { created_at: NOW - 100 });
      await storage.keys.insertInitial(es);
      await migrateTo(migrator, THIS);

      assert.deepEqual(await storage.keys.current('ES256'), es);
      const rs = key('rs1', { alg: 'RS256', public_jwk: { kty: 'RSA', n: 'n', e: 'AQAB', kid: 'rs1' } });
      assert.deepEqual(await storage.keys.insertInitial(rs), rs);
      assert.deepEqual((await storage.keys.list()).filter((k) => k.status === 'current').map((k) => k.kid).sort(), ['es1', 'rs1']);
      // the index, not only the repository, holds the line: a raw second current ES256 row fails
      const raw = { ...key('es2'), public_jwk: '{}' };
      await assert.rejects(sqlHandleOf(storage)!.db.insertInto('signing_keys').values(raw as never).execute());

      // down: one current key in all again (the newest), the other demoted but still published
      assert.deepEqual(await migrateDown(migrator), [[THIS, 'Success']]);
      const after = await storage.keys.list();
      assert.deepEqual(after.map((k) => [k.kid, k.status]), [['rs1', 'current'], ['es1', 'previous']]);
      assert.ok(after[1]!.publish_until! > Math.floor(Date.now() / 1000));
      // and up again
      await migrateTo(migrator, THIS);
      assert.deepEqual(await storage.keys.current('RS256'), { ...rs });
    });

    it('clients.id_token_signed_response_alg round-trips; absent stays absent', async () => {
      // through the repository, which writes the columns of later migrations too
      await migrateToLatest(migrator);
      await storage.clients.upsert(client('rs', { id_token_signed_response_alg: 'RS256' }));
      await storage.clients.upsert(client('default'));
      assert.equal((await storage.clients.get('rs'))!.id_token_signed_response_alg, 'RS256');
      assert.equal('id_token_signed_response_alg' in (await storage.clients.get('default'))!, false);
      // a value this version does not know reads as absent (the server default), not as garbage
      await sqlHandleOf(storage)!.db.updateTable('clients').set({ id_token_signed_response_alg: 'PS512' }).where('client_id', '=', 'rs').execute();
      assert.equal('id_token_signed_response_alg' in (await storage.clients.get('rs'))!, false);
    });
  });
}
