// Migration 0020 (clients.require_signed_request_object) on every target: clients of an older
// database read on as not requiring a request object (the field absent), new ones record it
// either way, and down (column gone) and up again work (SQLite file, memory:, PostgreSQL).

import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Migrator } from 'kysely';
import { validateClientConfig } from '../../src/config/client.js';
import { clientRecordFromConfig } from '../../src/storage/client-records.js';
import { pendingMigrations, sqlHandleOf } from '../../src/storage/open.js';
import type { Storage } from '../../src/storage/types.js';
import { eachMigratedTo, migrateDown, migrateTo, migrateToLatest } from './migration-support.js';
import { allTargets } from './targets.js';

const NOW = 1_700_000_000;
const BEFORE = '0019-client-request-object-alg';
const THIS = '0020-client-require-signed-request-object';
const JWK = { kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0' };

/** A raw client row as an older version writes it: no require_signed_request_object column yet. */
function oldRow(clientId: string): Record<string, unknown> {
  return {
    client_id: clientId, client_name: null, secret_hash: null, redirect_uris: '["https://app.example/cb"]', grant_types: '["authorization_code"]',
    scopes: '["openid"]', default_scopes: '["openid"]', token_endpoint_auth_method: 'private_key_jwt', jwks: JSON.stringify({ keys: [JWK] }), jwks_uri: null,
    access_token_format: 'opaque', access_token_ttl: null, audiences: null, post_logout_redirect_uris: null, backchannel_logout_uri: null,
    backchannel_logout_session_required: null, consent: null, mfa: null, require_pkce: null, id_token_signed_response_alg: null, require_par: null,
    request_object_signing_alg: null, source: 'cli', created_at: NOW, updated_at: NOW,
  };
}

function record(clientId: string, required?: boolean) {
  const config = validateClientConfig(
    { client_id: clientId, redirect_uris: ['https://app.example/cb'], grant_types: ['authorization_code'], scopes: ['openid'], jwks: { keys: [JWK] }, ...(required === undefined ? {} : { require_signed_request_object: required }) },
    { issuer: 'http://127.0.0.1:9000' },
  );
  return clientRecordFromConfig(config, 'cli', NOW);
}

for (const target of await allTargets()) {
  describe(`migration 0020 (clients require signed request objects): ${target.name}`, { skip: target.skip }, () => {
    let storage: Storage;
    let migrator: Migrator;
    eachMigratedTo(target, BEFORE, (opened, m) => {
      storage = opened;
      migrator = m;
    });

    it('older clients read on as not requiring request objects; new ones record it either way', async () => {
      assert.equal((await pendingMigrations(storage))[0], THIS);
      const db = sqlHandleOf(storage)!.db as any;
      await db.insertInto('clients').values(oldRow('old')).execute();
      await migrateTo(migrator, THIS);
      const old = (await storage.clients.get('old'))!;
      assert.equal('require_signed_request_object' in old, false, 'absent, not false, for clients written before');
      // through the repository, which writes the columns of later migrations too
      await migrateToLatest(migrator);
      await storage.clients.upsert(record('strict', true));
      await storage.clients.upsert(record('lenient'));
      assert.equal((await storage.clients.get('strict'))?.require_signed_request_object, true);
      assert.equal((await storage.clients.get('lenient'))?.require_signed_request_object, false);
      const rows = await db.selectFrom('clients').select(['client_id', 'require_signed_request_object']).orderBy('client_id').execute();
      const values = rows.map((r: { client_id: string; require_signed_request_object: unknown }) => [r.client_id, r.require_signed_request_object === null ? null : Number(r.require_signed_request_object)]);
      assert.deepEqual(values, [
        ['lenient', 0],
        ['old', null],
        ['strict', 1],
      ]);
    });

    it('down drops the column; up again works', async () => {
      await migrateTo(migrator, THIS);
      const db = sqlHandleOf(storage)!.db as any;
      await db.insertInto('clients').values({ ...oldRow('strict'), require_signed_request_object: 1 }).execute();
      assert.equal((await storage.clients.get('strict'))?.require_signed_request_object, true);
      assert.deepEqual(await migrateDown(migrator), [[THIS, 'Success']]);
      const columns = Object.keys((await db.selectFrom('clients').selectAll().executeTakeFirst()) as object);
      assert.equal(columns.includes('require_signed_request_object'), false);
      assert.equal(columns.includes('client_id'), true);
      await migrateToLatest(migrator);
      await storage.clients.upsert(record('strict', true));
      assert.equal((await storage.clients.get('strict'))?.require_signed_request_object, true);
    });
  });
}
